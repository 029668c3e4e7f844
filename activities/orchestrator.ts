/**
 * Activities of the orchestrator worker: thin adapters from Temporal to the store and the
 * PKI (the device runtimes' activities run on the owning device host: device-runtime.ts).
 * Each is idempotent: running it again after a crash or a
 * retry finds and adopts what the earlier attempt made.
 */
import { counter } from '../common/metrics.js';
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  GATEWAY_STALE_MS,
  HOST_STALE_MS,
  gatewayTaskQueue,
  hostTaskQueue,
  type WasmbedConfig,
} from '../common/config.js';
import type { PlatformContext } from '../platform/context.js';
import { AlreadyExistsError, NotFoundError } from '../common/errors.js';
import { FailureType } from '../common/failures.js';
import type { Logger } from '../common/logger.js';
import type { DeviceIdentity, DeviceSpec, DeviceStatus, ProvisioningStep } from '../common/resources.js';
import type { DeviceCertificates } from '../pki/index.js';
import type { DeviceLogs } from '../store/device-logs.js';
import type { HostRegistry } from '../store/host-registry.js';
import type { ResourceStore } from '../store/resource-store.js';
import { forgetDeviceInApplications } from './applications.js';
import { chooseGateway } from './gateway-placement.js';
import { chooseHost, chooseHostCountingLazily } from './host-placement.js';
import { freshSteps, setCondition, setStep, stepRecorder } from './provisioning-status.js';
import { ORCHESTRATOR_TASK_QUEUE } from '../common/task-queues.js';
import { DEVICE_ATTRIBUTE, PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { startWorkflow } from '../temporal/workflow-calls.js';
import {
  deviceLifecycleWorkflow,
  enrollWorkflowId,
  lifecycleWorkflowId,
  provisionWorkflowId,
  type LifecycleSettings,
} from '../workflows/contracts/index.js';

export interface OrchestratorDeps {
  store: ResourceStore;
  /** The device log (UART, app output): a deleted device's goes with it. */
  logs: DeviceLogs;
  certificates: DeviceCertificates;
  caPem: string;
  /**
   * The live device hosts: a device is placed on one (its keys, volume and emulator stay
   * there: the runtime activities, certificates included, run on it, activities/device-runtime.ts).
   */
  hosts: HostRegistry;
  /** A host heard from within this long takes new devices. */
  hostStaleMs: number;
  /** A host silent for longer than this is dead: its devices are brought back on another. */
  hostGraceMs: number;
  client: Client;
  logger: Logger;
  /** A gateway that has not reported for this long is not offered to new devices. */
  gatewayStaleMs: number;
  lifecycle: LifecycleSettings;
}

export interface AssignedGateway {
  name: string;
  endpoint: string;
  taskQueue: string;
  /** The device host that owns the device, where its endpoint block is written. */
  host?: OwningHost;
}

/** The device host that owns a device: its runtime activities go to `taskQueue`. */
export interface OwningHost {
  id: string;
  taskQueue: string;
}

/** Where a device is placed: `moved` when it left a dead host (its volume must be made anew there). */
export interface PlacedHost extends OwningHost {
  moved: boolean;
}

/**
 * The deps as every worker that runs these activities builds them from its platform: the
 * orchestrator, and a device host (provisioning runs there as local activities when it starts on
 * the host's queue, workflows/provision-device.ts).
 */
export function orchestratorDepsOf(
  platform: PlatformContext,
  config: WasmbedConfig,
  client: Client,
  logger: Logger,
): OrchestratorDeps {
  return {
    store: platform.store,
    logs: platform.logs,
    certificates: platform.certificates,
    caPem: platform.ca.certPem,
    hosts: platform.hosts,
    hostStaleMs: HOST_STALE_MS,
    hostGraceMs: config.host.graceMs,
    client,
    logger,
    gatewayStaleMs: GATEWAY_STALE_MS,
    lifecycle: config.lifecycle,
  };
}

export function createOrchestratorActivities(deps: OrchestratorDeps) {
  const { store } = deps;
  const provisionings = counter({
    name: 'wasmbed_provisionings_total',
    help: 'Provisioning runs that ended, by outcome (connected, failed)',
    labelNames: ['outcome'] as const,
  });

  const step = stepRecorder(store);

  /** The host that owns the device, as recorded on it (deprovisioning, rotation). */
  async function owningHost(device: string): Promise<OwningHost | undefined> {
    const id = (await store.get('Device', device))?.status.host;
    return id ? { id, taskQueue: hostTaskQueue(id) } : undefined;
  }

  /**
   * Places the device on a host (host-placement.ts): its own while that host is alive or within
   * the grace period, else the host whose queue `runsOn` is (provisioning running there) if it is
   * live, else the live host with the fewest devices; records it as status.host.
   * Once recorded, the old host's fence (host/main.ts) stops any copy it still runs.
   */
  async function placeDevice(
    device: string,
    runsOn?: string,
    alsoRecord: (s: DeviceStatus) => DeviceStatus = (s) => s,
  ): Promise<PlacedHost> {
    const current = (await store.get('Device', device))?.status.host;
    const hosts = await deps.hosts.list();
    const placement = await chooseHostCountingLazily(
      {
        preferred: hosts.find((h) => hostTaskQueue(h.id) === runsOn)?.id,
        device,
        hosts,
        current,
        now: Date.now(),
        staleMs: deps.hostStaleMs,
        graceMs: deps.hostGraceMs,
      },
      () => store.countBy('Device', 'host'),
    );
    if (!('host' in placement)) throw ApplicationFailure.retryable(placement.reason, FailureType.NoHostReady);
    const { host, moved } = placement;
    // The placement was decided for the host read above: another placement in between wins.
    await store.updateStatus('Device', device, (s) => {
      if (s.host !== current) {
        throw ApplicationFailure.retryable(
          `device ${device} was placed on ${s.host ?? 'no host'} meanwhile`,
          FailureType.NoHostReady,
        );
      }
      return alsoRecord({ ...s, host });
    });
    if (moved) deps.logger.info('device moves to a live host', { device, host });
    return { id: host, taskQueue: hostTaskQueue(host), moved };
  }

  return {
    /**
     * Records the device (if a direct start) as Provisioning and places it on a host (the one
     * whose queue `runsOn` is, if it is live and the device has no live host of its own); returns
     * the host, whether that is the run's own queue, and the lifecycle settings of this platform.
     */
    async beginProvisioning(
      device: string,
      spec: DeviceSpec,
      workflowId: string,
      runsOn?: string,
    ): Promise<{ lifecycle: LifecycleSettings; host: OwningHost; placedOnRunsQueue: boolean }> {
      if (!(await store.get('Device', device))) {
        try {
          await store.create(
            'Device',
            device,
            spec,
            { phase: 'Pending', conditions: [], apps: {} },
            spec.labels ?? {},
          );
        } catch (err) {
          if (!(err instanceof AlreadyExistsError)) throw err;
        }
      }
      // A device stays with the host that started it (its emulator runs there) unless that host
      // is dead; a new one goes to the live host with the fewest devices.
      // (The placement and the run's start in one write.)
      const host = await placeDevice(device, runsOn, (s) => ({
        ...s,
        phase: s.phase === 'Connected' ? s.phase : 'Provisioning',
        workflowId,
        message: undefined,
        steps: s.phase === 'Failed' || !s.steps ? (s.steps ?? freshSteps()).map(resetFailed) : s.steps,
      }));
      return {
        lifecycle: deps.lifecycle,
        host: { id: host.id, taskQueue: host.taskQueue },
        // The run is on the queue of the host the device was placed on: it runs the host's steps itself.
        placedOnRunsQueue: host.taskQueue === runsOn,
      };
    },

    /**
     * Recovery: the device's host, moving it to a live one if its host is dead (silent beyond
     * the grace period). A moved device's runtime steps then run again on its new host.
     */
    async relocateDevice(device: string): Promise<PlacedHost> {
      return placeDevice(device);
    },

    async assignGateway(device: string, preferred?: string): Promise<AssignedGateway> {
      return step(device, 'assignGateway', async () => {
        const placement = chooseGateway({
          gateways: await store.list('Gateway'),
          device: (await store.get('Device', device))?.status,
          preferred,
          now: Date.now(),
          staleMs: deps.gatewayStaleMs,
        });
        if (!('gateway' in placement))
          throw ApplicationFailure.retryable(placement.reason, FailureType.NoGatewayReady);
        const chosen = placement.gateway;
        const assigned = {
          name: chosen.metadata.name,
          endpoint: chosen.spec.endpoint,
          taskQueue: chosen.status.taskQueue ?? gatewayTaskQueue(chosen.metadata.name),
          host: await owningHost(device),
        };
        await store.updateStatus('Device', device, (s) => ({
          ...s,
          gateway: { name: assigned.name, endpoint: assigned.endpoint },
        }));
        return assigned;
      });
    },

    /** Called by the workflow around the gateway's awaitDeviceSession. */
    async markConnected(device: string, gateway: AssignedGateway, identity: DeviceIdentity): Promise<void> {
      provisionings.inc({ outcome: 'connected' });
      await store.updateStatus('Device', device, (s) => {
        const withStep = setStep(s, 'awaitSession', {
          state: 'Succeeded',
          finishedAt: new Date().toISOString(),
        });
        return {
          ...setCondition(
            withStep,
            'Provisioned',
            true,
            'SessionEstablished',
            `connected to ${gateway.name}`,
          ),
          phase: 'Connected',
          identity,
          gateway: { name: gateway.name, endpoint: gateway.endpoint },
          message: undefined,
        };
      });
    },

    /**
     * Hands a Connected device to its long-lived lifecycle workflow, `lifecycle-<device>` on the
     * orchestrator's queue; one already running (a re-run of provisioning) carries on. Started from
     * this activity rather than as provisioning's child: a child's start costs the run a workflow
     * task of its own after the child has started (and the server the parent's bookkeeping) — a
     * fifth to a third of the dev server's CPU for an empty run of provisioning's shape, a tenth
     * for a real one (BENCHMARKS.md, "Provisioning: the lifecycle started by an activity…").
     * The lifecycle was never tied to provisioning's run (it outlives it: ParentClosePolicy ABANDON).
     */
    async startLifecycle(device: string, settings: LifecycleSettings): Promise<void> {
      try {
        await startWorkflow(deps.client, deviceLifecycleWorkflow, {
          workflowId: lifecycleWorkflowId(device),
          taskQueue: ORCHESTRATOR_TASK_QUEUE,
          args: [{ name: device, ...settings }],
          typedSearchAttributes: [
            { key: DEVICE_ATTRIBUTE, value: device },
            { key: PHASE_ATTRIBUTE, value: 'Connected' },
          ],
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },

    async markFailed(device: string, stepName: string, message: string): Promise<void> {
      provisionings.inc({ outcome: 'failed' });
      try {
        await store.updateStatus('Device', device, (s) => {
          const withStep = setStep(s, stepName, {
            state: 'Failed',
            message,
            finishedAt: new Date().toISOString(),
          });
          return {
            ...setCondition(withStep, 'Provisioned', false, 'StepFailed', `${stepName}: ${message}`),
            phase: 'Failed',
            message: `${stepName} failed: ${message}`,
          };
        });
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err; // a device that never existed has nothing to mark
      }
    },

    /** Cancels the device's provisioning, lifecycle and enrollment workflows and waits until they stopped. */
    async cancelProvisioning(device: string): Promise<void> {
      for (const workflowId of [
        provisionWorkflowId(device),
        lifecycleWorkflowId(device),
        enrollWorkflowId(device),
      ]) {
        const handle = deps.client.workflow.getHandle(workflowId);
        try {
          const description = await handle.describe();
          if (description.status.name !== 'RUNNING') continue;
          await handle.cancel();
          await handle.result().catch(() => undefined);
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
    },

    async markDeprovisioning(device: string): Promise<void> {
      try {
        await store.updateStatus('Device', device, (s) => ({ ...s, phase: 'Deprovisioning' }));
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    },

    /** The gateway the device's session was last on, if it is a known gateway. */
    async sessionGateway(device: string): Promise<{ name: string; taskQueue: string } | null> {
      const name = (await store.get('Device', device))?.status.gateway?.name;
      if (!name) return null;
      const gateway = await store.get('Gateway', name);
      return gateway ? { name, taskQueue: gateway.status.taskQueue ?? gatewayTaskQueue(name) } : null;
    },

    async revokeCertificate(device: string): Promise<number> {
      return deps.certificates.revoke(device);
    },

    /** The host owning the device, where its runtime activities (start, stop, volume) run. */
    async deviceHost(device: string): Promise<OwningHost> {
      const owner = await owningHost(device);
      if (owner) return owner;
      // Never placed (an enrolled board, a device deleted before provisioning began): nothing
      // runs for it anywhere, and any live host can answer the no-op stop and volume removal.
      const placement = chooseHost({
        device,
        hosts: await deps.hosts.list(),
        owned: {},
        now: Date.now(),
        staleMs: deps.hostStaleMs,
        graceMs: deps.hostGraceMs,
      });
      if (!('host' in placement))
        throw ApplicationFailure.retryable(placement.reason, FailureType.NoHostReady);
      return { id: placement.host, taskQueue: hostTaskQueue(placement.host) };
    },

    /**
     * The device's row, then its log and its states in the Applications: a device created again
     * under the name starts with an empty log, not its predecessor's lines, and no app counts the
     * device any more. (A retry after the row went does the rest still.)
     */
    async deleteDevice(device: string): Promise<boolean> {
      const deleted = await store.delete('Device', device);
      await deps.logs.deleteDevice(device);
      await forgetDeviceInApplications(store, device);
      return deleted;
    },
  };
}

function resetFailed(step: ProvisioningStep): ProvisioningStep {
  return step.state === 'Failed' ? { name: step.name, state: 'Pending' } : step;
}

export type OrchestratorActivities = ReturnType<typeof createOrchestratorActivities>;
