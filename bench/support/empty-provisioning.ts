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
  patched,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { DEVICE_ATTRIBUTE, PHASE_ATTRIBUTE } from '../../temporal/search-attributes.js';
import { LIFECYCLE_START_PATCHES, PROVISIONING_ON_HOST_PATCHES, Patch } from '../../workflows/patches.js';

export interface EmptyActivities {
  nothing(): Promise<void>;
  /** What the startLifecycle activity does: starts emptyLifecycle (with markers and attributes). */
  startLifecycle(id: string, taskQueue: string): Promise<void>;
}

const local = proxyLocalActivities<EmptyActivities>({ startToCloseTimeout: '30s' });

export async function emptyLifecycle(input?: { markers?: boolean }): Promise<void> {
  // The lifecycle's patch markers at its start (each also upserts TemporalChangeVersion).
  if (input?.markers) for (const patch of LIFECYCLE_START_PATCHES) patched(patch);
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

/** The shapes provisioning has had, newest first (bench/device-host.ts compares them). */
export type ProvisioningShape = 'onHost' | 'onHostLifecycleChild' | 'onHostBare' | 'hostChild' | 'sequential';

/**
 * `onHost`: provisioning's shape now — the run is on the device host's queue, and every step
 * but the session wait (an activity on another queue, the gateway's) is a local activity there,
 * the lifecycle's start included (the startLifecycle activity starts it with the client);
 * with what provisioning asks of Temporal besides: the Web UI's search attributes (set at the
 * start — bench/device-host.ts does — upserted twice, set on the lifecycle) and the patch
 * markers of the runs. Custom search attributes cost the dev server a sixth more per run (it
 * reads them from its cluster metadata and namespace at each use).
 * `onHostLifecycleChild`: its shape before — the same, but the lifecycle started as a child.
 * `onHostBare`: that one without attributes or markers, as the ceiling was measured before.
 * `hostChild`: its shape before — the host steps as one child workflow on the remote queue
 * (local activities there) beside placement, then the endpoint write on the remote queue.
 * `sequential`: before that — the four host steps as activities on the remote queue, then
 * placement, in sequence. The store steps are local activities in all three.
 */
export async function emptyProvisioning(input: {
  remoteQueue: string;
  id: string;
  shape: ProvisioningShape;
  /** The orchestrator's queue, where the lifecycle runs (an `onHost` run is on the remote queue). */
  lifecycleQueue: string;
}): Promise<void> {
  const remote = proxyActivities<EmptyActivities>({
    taskQueue: input.remoteQueue,
    startToCloseTimeout: '30s',
  });
  const own = proxyActivities<EmptyActivities>({ startToCloseTimeout: '30s' });
  const attributes = input.shape === 'onHost' || input.shape === 'onHostLifecycleChild';
  if (attributes) upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Provisioning' }]);
  // A real run's markers, all at its start: one of them is recorded later there (in the workflow
  // task after the session), but each costs the same events wherever it is. The shape before
  // the startLifecycle activity recorded all but that one.
  if (attributes) {
    const markers = PROVISIONING_ON_HOST_PATCHES.filter(
      (patch) => input.shape === 'onHost' || patch !== Patch.lifecycleStartedByActivity,
    );
    for (const patch of markers) patched(patch);
  }
  await local.nothing(); // beginProvisioning
  if (input.shape === 'onHost' || input.shape === 'onHostLifecycleChild' || input.shape === 'onHostBare') {
    for (let step = 0; step < 6; step++) await local.nothing(); // the host's four steps, placement, writeEndpoint
    await remote.nothing(); // awaitDeviceSession (gateway)
    await local.nothing(); // markConnected
    if (attributes) upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Connected' }]);
    if (input.shape === 'onHost') {
      await local.startLifecycle(input.id, input.lifecycleQueue);
      return;
    }
    await startChild(emptyLifecycle, {
      workflowId: `empty-lifecycle-${input.id}`,
      taskQueue: input.lifecycleQueue,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [{ markers: attributes }],
      ...(attributes
        ? {
            typedSearchAttributes: [
              { key: DEVICE_ATTRIBUTE, value: input.id },
              { key: PHASE_ATTRIBUTE, value: 'Connected' },
            ],
          }
        : {}),
    });
    return;
  }
  if (input.shape === 'hostChild') {
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
