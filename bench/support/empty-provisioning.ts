/**
 * The empty workflow of provisioning's shape, for the ceiling in bench/device-host.ts: the same
 * local activities (store steps), the host's steps (a child workflow with local activities on
 * another task queue, or, as before, activities there), activities on other queues (host and
 * gateway) and on its own (placement) and the lifecycle child (whose store checks are local
 * activities), every activity returning at once. Workflow code.
 */
import {
  ParentClosePolicy,
  executeChild,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  startChild,
} from '@temporalio/workflow';

export interface EmptyActivities {
  nothing(): Promise<void>;
}

const local = proxyLocalActivities<EmptyActivities>({ startToCloseTimeout: '30s' });

export async function emptyLifecycle(): Promise<void> {
  await local.nothing();
  await local.nothing();
  await sleep('1 hour');
}

/** The host's four steps as local activities of a child on the host's queue (prepareDeviceOnHost). */
export async function emptyHostSteps(): Promise<void> {
  await local.nothing(); // issueCertificate
  await local.nothing(); // prepareVolume
  await local.nothing(); // copyFirmware
  await local.nothing(); // startEmulator
}

/**
 * `hostChild`: provisioning's shape now — the host steps as one child workflow on the remote
 * queue (local activities there) beside placement; false: its shape before — the four host
 * steps as activities on the remote queue, then placement, in sequence. The store steps are
 * local activities in both.
 */
export async function emptyProvisioning(input: {
  remoteQueue: string;
  id: string;
  hostChild: boolean;
}): Promise<void> {
  const remote = proxyActivities<EmptyActivities>({
    taskQueue: input.remoteQueue,
    startToCloseTimeout: '30s',
  });
  const own = proxyActivities<EmptyActivities>({ startToCloseTimeout: '30s' });
  await local.nothing(); // beginProvisioning
  if (input.hostChild) {
    await Promise.all([
      executeChild(emptyHostSteps, { workflowId: `empty-host-${input.id}`, taskQueue: input.remoteQueue }),
      own.nothing(), // assignGateway
    ]);
  } else {
    await remote.nothing(); // issueCertificate (host)
    await remote.nothing(); // prepareVolume (host)
    await remote.nothing(); // copyFirmware (host)
    await remote.nothing(); // startEmulator (host)
    await own.nothing(); // assignGateway
  }
  await remote.nothing(); // writeEndpoint (host)
  await remote.nothing(); // awaitDeviceSession (gateway)
  await local.nothing(); // markConnected
  await startChild(emptyLifecycle, {
    workflowId: `empty-lifecycle-${input.id}`,
    parentClosePolicy: ParentClosePolicy.ABANDON,
  });
}
