/**
 * provisionDevice: certificate → volume → firmware → emulator → gateway → endpoint in
 * memory → mutual-TLS session → Connected. Each step is an idempotent activity, so a new
 * run (Retry) or a replay after a worker crash adopts whatever the earlier attempt made.
 */
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  executeChild,
  isCancellation,
  patched,
  startChild,
  proxyActivities,
  proxyLocalActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { DeviceSpec } from '../common/resources.js';
import { validateDeviceCreate } from '../common/validation.js';
import { DEVICE_ATTRIBUTE, PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { deviceLifecycle } from './device-lifecycle.js';
import { prepareDeviceOnHost } from './prepare-device-on-host.js';
import { hostStepsHere, writeEndpointHere } from './host-steps.js';
import type { DeviceRuntimeActivities } from '../activities/device-runtime.js';
import type { AssignedGateway, OrchestratorActivities } from '../activities/orchestrator.js';
import type { GatewayActivities } from '../gateway/activities.js';
import { describeFailure, FailureType } from '../common/failures.js';
import { asNonRetryable } from './errors.js';
import { emulatorStepOptions, placementOptions, quick, volumeStepOptions } from './host-step-options.js';
import { ORCHESTRATOR_TASK_QUEUE } from '../common/task-queues.js';
import {
  lifecycleWorkflowId,
  PROVISIONING_STEPS,
  prepareOnHostWorkflowId,
  type LifecycleSettings,
  type PreparedDevice,
  type ProvisionDeviceInput,
  type ProvisionDeviceResult,
  type ProvisioningStepName,
} from './contracts/index.js';
import { Patch } from './patches.js';

// The short store steps (beginProvisioning, markConnected/markFailed) run as local activities,
// in the orchestrator worker that runs this workflow: each ends as a marker in the workflow task
// it ran in, instead of an activity task and a second workflow task through the server. They
// keep their retry policy and stay idempotent; the Web UI shows them (local activity markers).
// Runs begun before ran them as regular activities (the patch in provisionDevice).
const storeOptions = { startToCloseTimeout: '30s', retry: { ...quick, maximumAttempts: 10 } } as const;
const localStore = proxyLocalActivities<OrchestratorActivities>(storeOptions);
const remoteStore = proxyActivities<OrchestratorActivities>(storeOptions);
/** Histories from before device keys were made on the host ran issueCertificate on this queue. */
const legacyPki = proxyActivities<DeviceRuntimeActivities>({
  startToCloseTimeout: '30s',
  retry: { ...quick, maximumAttempts: 5 },
});
/**
 * A run on the device's own host (services/provisioning-queue.ts starts it on the host's queue)
 * runs the host's steps, placement and the endpoint write as local activities there, with the
 * same timeouts and retries as their regular forms (host-step-options.ts).
 */
const localPlacement = proxyLocalActivities<OrchestratorActivities>(placementOptions);

/** The runtime steps run on the device host that owns the device (its own task queue). */
function hostActivities(taskQueue: string | undefined) {
  // A host that is restarting (its worker respawns it) leaves the queue without a poller for a
  // moment: the tasks wait for it.
  const scheduleToStartTimeout = '2 minutes';
  return {
    volume: proxyActivities<DeviceRuntimeActivities>({
      taskQueue,
      scheduleToStartTimeout,
      ...volumeStepOptions,
    }),
    emulator: proxyActivities<DeviceRuntimeActivities>({
      taskQueue,
      scheduleToStartTimeout,
      ...emulatorStepOptions,
    }),
  };
}
// Placement beside the host child is a regular activity: it may retry for a minute while
// gateways start, and a regular activity shows its attempts and last failure ("not ready") to the
// Web UI while it retries. (On the host's own queue it is local: the dashboard's timeline shows
// a retrying local step from the step's own record, status.steps.)
const placement = proxyActivities<OrchestratorActivities>(placementOptions);

function gatewayActivities(taskQueue: string) {
  return proxyActivities<GatewayActivities>({
    taskQueue,
    scheduleToStartTimeout: '1 minute',
    startToCloseTimeout: '90s',
    heartbeatTimeout: '10s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3 },
  });
}

export async function provisionDevice(input: ProvisionDeviceInput): Promise<ProvisionDeviceResult> {
  const { name, spec } = asNonRetryable(() => validateDeviceCreate(input));
  const store = patched(Patch.provisioningLocalSteps) ? localStore : remoteStore;
  const workflowId = workflowInfo().workflowId;
  let current: ProvisioningStepName | 'begin' = 'begin';
  upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Provisioning' }]);
  try {
    // (Where this run is goes to placement as a preference; whether the device was placed here
    // comes back in the activity's result, recorded in history: a replay elsewhere — a replay
    // worker has a queue of its own — takes the same branch.)
    const { lifecycle, host, placedOnRunsQueue } = await store.beginProvisioning(
      name,
      spec satisfies DeviceSpec,
      workflowId,
      workflowInfo().taskQueue,
    );
    // (A run begun before device hosts has no host: its runtime steps ran on this queue.)
    const { volume, emulator } = hostActivities(host?.taskQueue);

    let identity: PreparedDevice;
    let gateway: AssignedGateway;
    if (host && placedOnRunsQueue === true && patched(Patch.provisioningOnHost)) {
      // This run is on the device's host: every step but the session wait is a local activity
      // here — one workflow task for all of them instead of a child workflow and an activity.
      identity = await hostStepsHere(
        { name, firmware: spec.firmware, runtime: spec.runtime },
        (step) => (current = step),
      );
      current = 'assignGateway';
      gateway = await localPlacement.assignGateway(name, spec.gateway);
      current = 'writeEndpoint';
      await writeEndpointHere(name, gateway.endpoint);
    } else if (host && patched(Patch.provisioningHostChild)) {
      // The host's four steps as local activities of one child workflow on the host's queue, and
      // placement beside them: one child start instead of four activity round trips, and no
      // waiting for the host before a gateway is chosen (or the other way round).
      current = 'issueCertificate';
      const onHost = executeChild(prepareDeviceOnHost, {
        workflowId: prepareOnHostWorkflowId(name),
        taskQueue: host.taskQueue,
        args: [{ name, firmware: spec.firmware, runtime: spec.runtime }],
        typedSearchAttributes: [{ key: DEVICE_ATTRIBUTE, value: name }],
        // A host that is restarting (its worker respawns it) picks the child up again; one that
        // stays gone fails the run (Retry places the device on a live host), as the activities'
        // schedule-to-start timeout did before. Ten minutes is above the four steps' retries.
        workflowExecutionTimeout: '10 minutes',
      }).catch((err: unknown) => {
        current = failedStep(err) ?? current;
        throw err;
      });
      const placed = placement.assignGateway(name, spec.gateway).catch((err: unknown) => {
        current = 'assignGateway';
        throw err;
      });
      [identity, gateway] = await Promise.all([onHost, placed]);
      current = 'writeEndpoint';
      await emulator.writeEndpoint(name, gateway.endpoint);
    } else {
      current = 'issueCertificate';
      // On the owning host: the device's key is made in its volume there and never leaves it.
      identity = patched(Patch.deviceKeysOnHost)
        ? await volume.issueCertificate(name)
        : await legacyPki.issueCertificate(name);

      current = 'prepareVolume';
      await volume.prepareVolume(name);

      current = 'copyFirmware';
      await volume.copyFirmware(name, spec.firmware);

      current = 'startEmulator';
      await emulator.startEmulator(name);

      current = 'assignGateway';
      gateway = await placement.assignGateway(name, spec.gateway);
      current = 'writeEndpoint';
      await emulator.writeEndpoint(name, gateway.endpoint);
    }

    current = 'awaitSession';
    const session = await gatewayActivities(gateway.taskQueue).awaitDeviceSession({
      device: name,
      certSerial: identity.certSerial,
    });

    await store.markConnected(name, gateway, identity);
    upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Connected' }]);
    // (Runs begun before started the lifecycle as their child: startLifecycleAsChild.)
    if (patched(Patch.lifecycleStartedByActivity)) await store.startLifecycle(name, lifecycle);
    else await startLifecycleAsChild(name, lifecycle);
    return { name, gateway: gateway.name, certSerial: identity.certSerial, connectedAt: session.connectedAt };
  } catch (err) {
    if (isCancellation(err)) throw err;
    const message = describeFailure(err);
    upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Failed' }]);
    await store.markFailed(name, current, message);
    throw err;
  }
}

/** The step a failed host child stopped at (prepareDeviceOnHost names it in its failure). */
function failedStep(err: unknown): ProvisioningStepName | undefined {
  const failure = err instanceof ChildWorkflowFailure ? err.cause : undefined;
  if (!(failure instanceof ApplicationFailure) || failure.type !== FailureType.HostStepFailed)
    return undefined;
  return PROVISIONING_STEPS.find((step) => step === failure.details?.[0]);
}

/** How runs begun before the startLifecycle activity handed the device to its lifecycle. */
async function startLifecycleAsChild(name: string, settings: LifecycleSettings): Promise<void> {
  try {
    await startChild(deviceLifecycle, {
      workflowId: lifecycleWorkflowId(name),
      // On the orchestrator's queue, whichever queue provisioning ran on (a device host's).
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      args: [{ name, ...settings }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: DEVICE_ATTRIBUTE, value: name },
        { key: PHASE_ATTRIBUTE, value: 'Connected' },
      ],
    });
  } catch (err) {
    // Already watching this device (a re-run of provisioning): that lifecycle carries on.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
