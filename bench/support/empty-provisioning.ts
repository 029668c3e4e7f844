/**
 * The empty workflow of provisioning's shape, for the ceiling in bench/device-host.ts: the same
 * sequence of local activities (store/PKI steps), activities on other task queues (host and
 * gateway steps) and the lifecycle child, every activity returning at once. Workflow code.
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
  await local.nothing(); // beginProvisioning
  await local.nothing(); // issueCertificate
  await remote.nothing(); // prepareVolume (host)
  await remote.nothing(); // copyFirmware (host)
  await remote.nothing(); // startEmulator (host)
  await local.nothing(); // assignGateway
  await remote.nothing(); // writeEndpoint (host)
  await remote.nothing(); // awaitDeviceSession (gateway)
  await local.nothing(); // markConnected
  await startChild(emptyLifecycle, {
    workflowId: `empty-lifecycle-${input.id}`,
    parentClosePolicy: ParentClosePolicy.ABANDON,
  });
}
