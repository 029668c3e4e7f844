/**
 * The empty workflow of provisioning's shape, for the ceiling in bench/device-host.ts: the same
 * sequence of activities (store/PKI steps on the workflow's own queue, host and gateway steps on
 * theirs) and the lifecycle child (whose store checks are local activities), every activity
 * returning at once. Workflow code.
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

export async function emptyProvisioning(input: { remoteQueue: string; id: string }): Promise<void> {
  const remote = proxyActivities<EmptyActivities>({
    taskQueue: input.remoteQueue,
    startToCloseTimeout: '30s',
  });
  const own = proxyActivities<EmptyActivities>({ startToCloseTimeout: '30s' });
  await own.nothing(); // beginProvisioning
  await own.nothing(); // issueCertificate
  await remote.nothing(); // prepareVolume (host)
  await remote.nothing(); // copyFirmware (host)
  await remote.nothing(); // startEmulator (host)
  await own.nothing(); // assignGateway
  await remote.nothing(); // writeEndpoint (host)
  await remote.nothing(); // awaitDeviceSession (gateway)
  await own.nothing(); // markConnected
  await startChild(emptyLifecycle, {
    workflowId: `empty-lifecycle-${input.id}`,
    parentClosePolicy: ParentClosePolicy.ABANDON,
  });
}
