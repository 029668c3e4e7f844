/**
 * The empty workflow of provisioning's shape, for the ceiling in bench/device-host.ts: the same
 * sequence of local activities (store steps), activities on other task queues (host and gateway
 * steps) and on its own (placement) and the lifecycle child (whose store checks are local
 * activities), every activity returning at once. Workflow code.
 */
import {
  ParentClosePolicy,
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

/**
 * `localSteps`: the store steps as local activities (provisioning now); false: as activities
 * on the workflow's own queue (provisioning before), for the side-by-side ceiling.
 */
export async function emptyProvisioning(input: {
  remoteQueue: string;
  id: string;
  localSteps: boolean;
}): Promise<void> {
  const remote = proxyActivities<EmptyActivities>({
    taskQueue: input.remoteQueue,
    startToCloseTimeout: '30s',
  });
  const own = proxyActivities<EmptyActivities>({ startToCloseTimeout: '30s' });
  const step = input.localSteps ? local : own;
  await step.nothing(); // beginProvisioning
  await remote.nothing(); // issueCertificate (host)
  await remote.nothing(); // prepareVolume (host)
  await remote.nothing(); // copyFirmware (host)
  await remote.nothing(); // startEmulator (host)
  await own.nothing(); // assignGateway
  await remote.nothing(); // writeEndpoint (host)
  await remote.nothing(); // awaitDeviceSession (gateway)
  await step.nothing(); // markConnected
  await startChild(emptyLifecycle, {
    workflowId: `empty-lifecycle-${input.id}`,
    parentClosePolicy: ParentClosePolicy.ABANDON,
  });
}
