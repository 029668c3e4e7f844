/**
 * Activities of the orchestrator worker: thin adapters from Temporal to the store, the
 * PKI and the device runtimes. Each is idempotent: running it again after a crash or a
 * retry finds and adopts what the earlier attempt made.
 */
import { counter } from '../common/metrics.js';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { gatewayTaskQueue } from '../common/config.js';
import {
  AlreadyExistsError,
  errorMessage,
  NotFoundError,
  ValidationError,
  WasmbedError,
} from '../common/errors.js';
import { FailureType, toApplicationFailure } from '../common/failures.js';
import type { Logger } from '../common/logger.js';
import type { DeviceIdentity, DeviceSpec, DeviceStatus, ProvisioningStep } from '../common/resources.js';
import type { CertificateRecord, DeviceCertificates } from '../pki/index.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { DeviceRuntimeBackend, RuntimeRegistry, StartedEmulator } from '../runtimes/runtime.js';
import { chooseGateway } from './gateway-placement.js';
import {
  PROVISIONING_STEPS,
  enrollWorkflowId,
  lifecycleWorkflowId,
  provisionWorkflowId,
  type LifecycleSettings,
} from '../workflows/contracts/index.js';

export interface OrchestratorDeps {
  store: ResourceStore;
  certificates: DeviceCertificates;
  caPem: string;
  runtimes: RuntimeRegistry;
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
}

function freshSteps(): ProvisioningStep[] {
  return PROVISIONING_STEPS.map((name) => ({ name, state: 'Pending' }));
}

function setStep(status: DeviceStatus, name: string, patch: Partial<ProvisioningStep>): DeviceStatus {
  const steps = status.steps ?? freshSteps();
  const step = steps.find((s) => s.name === name);
  if (step) Object.assign(step, patch);
  return { ...status, steps };
}

function setCondition(status: DeviceStatus, type: string, ok: boolean, reason: string, message: string) {
  const conditions = status.conditions.filter((c) => c.type !== type);
  const previous = status.conditions.find((c) => c.type === type);
  const value = ok ? 'True' : 'False';
  conditions.push({
    type,
    status: value,
    reason,
    message,
    lastTransitionTime:
      previous && previous.status === value ? previous.lastTransitionTime : new Date().toISOString(),
  });
  return { ...status, conditions };
}

export function createOrchestratorActivities(deps: OrchestratorDeps) {
  const { store, logger } = deps;
  const provisionings = counter({
    name: 'wasmbed_provisionings_total',
    help: 'Provisioning runs that ended, by outcome (connected, failed)',
    labelNames: ['outcome'] as const,
  });

  /** The backend for the device's runtime (spec.runtime). */
  function runtimeOf(device: string): DeviceRuntimeBackend {
    const spec = store.get('Device', device)?.spec;
    const kind = spec?.runtime ?? 'virtual';
    const backend = deps.runtimes[kind];
    if (!backend) throw new ValidationError('runtime', `runtime "${kind}" is not available on this worker`);
    return backend;
  }

  /** Deprovisioning may run after the Device is gone: fall back to the virtual runtime then. */
  function runtimeFor(device: string): DeviceRuntimeBackend {
    return store.get('Device', device) ? runtimeOf(device) : deps.runtimes.virtual!;
  }

  /** Stores the identity of a freshly issued (or found) certificate on the device. */
  function recordIdentity(device: string, record: CertificateRecord): DeviceIdentity {
    const identity = { certSerial: record.serial, spkiSha256: record.spkiSha256, notAfter: record.notAfter };
    store.updateStatus('Device', device, (s) => ({ ...s, identity }));
    return identity;
  }

  /**
   * The device's certificate for the key its runtime keeps in the device's volume: the active
   * one if it certifies that key, else a new one (the old one revoked). The private key stays
   * with the runtime; the certificate table holds no key for these devices.
   */
  async function certificateForDeviceKey(device: string): Promise<CertificateRecord> {
    const { publicKeyPem } = await runtimeOf(device).deviceKey(device);
    return deps.certificates.issue(device, { publicKeyPem });
  }

  /** Runs one provisioning step and records it on the device so the dashboard can show it. */
  async function step<T>(device: string, name: string, work: () => Promise<T> | T): Promise<T> {
    const startedAt = new Date().toISOString();
    store.updateStatus('Device', device, (s) =>
      setStep(s, name, { state: 'Running', startedAt, message: undefined }),
    );
    try {
      const result = await work();
      store.updateStatus('Device', device, (s) =>
        setStep(s, name, { state: 'Succeeded', finishedAt: new Date().toISOString() }),
      );
      return result;
    } catch (err) {
      const attempt = Context.current().info.attempt;
      const message = errorMessage(err);
      store.updateStatus('Device', device, (s) =>
        setStep(s, name, { state: 'Running', message: `attempt ${attempt}: ${message}` }),
      );
      // Typed by code: bad input, a missing emulator or a corrupt firmware copy fail at once.
      throw err instanceof WasmbedError ? toApplicationFailure(err) : err;
    }
  }

  return {
    /** Records the device (if a direct start) as Provisioning; returns the lifecycle settings of this platform. */
    async beginProvisioning(
      device: string,
      spec: DeviceSpec,
      workflowId: string,
    ): Promise<{ lifecycle: LifecycleSettings }> {
      if (!store.get('Device', device)) {
        try {
          store.create(
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
      store.updateStatus('Device', device, (s) => ({
        ...s,
        phase: s.phase === 'Connected' ? s.phase : 'Provisioning',
        workflowId,
        message: undefined,
        steps: s.phase === 'Failed' || !s.steps ? (s.steps ?? freshSteps()).map(resetFailed) : s.steps,
      }));
      return { lifecycle: deps.lifecycle };
    },

    /** The certificate for the key in the device's volume (made there on first use, never stored). */
    async issueCertificate(device: string): Promise<DeviceIdentity> {
      return step(device, 'issueCertificate', async () =>
        recordIdentity(device, await certificateForDeviceKey(device)),
      );
    },

    /** Revokes the device's certificate and issues a new one for the same key (rotation on request). */
    async replaceCertificate(device: string): Promise<DeviceIdentity> {
      deps.certificates.revoke(device);
      return recordIdentity(device, await certificateForDeviceKey(device));
    },

    async prepareVolume(device: string): Promise<string> {
      return step(device, 'prepareVolume', () => runtimeOf(device).prepareVolume(device));
    },

    async copyFirmware(device: string, firmware?: string): Promise<{ sha256: string; bytes: number }> {
      return step(device, 'copyFirmware', () => runtimeOf(device).copyFirmware(device, firmware));
    },

    async startEmulator(device: string): Promise<StartedEmulator> {
      return step(device, 'startEmulator', async () => {
        const spec = store.get('Device', device)?.spec;
        if (!spec) throw new NotFoundError('Device', device);
        const result = await runtimeOf(device).start(device, spec.mcuType);
        logger.info(result.adopted ? 'adopted running device' : 'started device', { device, id: result.id });
        return result;
      });
    },

    async assignGateway(device: string, preferred?: string): Promise<AssignedGateway> {
      return step(device, 'assignGateway', () => {
        const placement = chooseGateway({
          gateways: store.list('Gateway'),
          device: store.get('Device', device)?.status,
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
        };
        store.updateStatus('Device', device, (s) => ({
          ...s,
          gateway: { name: assigned.name, endpoint: assigned.endpoint },
        }));
        return assigned;
      });
    },

    async writeEndpoint(device: string, endpoint: string): Promise<void> {
      return step(device, 'writeEndpoint', async () => {
        const key = await runtimeOf(device).deviceKey(device);
        const record = deps.certificates.issue(device, { publicKeyPem: key.publicKeyPem });
        await runtimeOf(device).writeMemory(device, endpoint, {
          certPem: record.certPem,
          keyPem: key.keyPem,
          caPem: deps.caPem,
        });
      });
    },

    /** Called by the workflow around the gateway's awaitDeviceSession. */
    async markConnected(device: string, gateway: AssignedGateway, identity: DeviceIdentity): Promise<void> {
      provisionings.inc({ outcome: 'connected' });
      store.updateStatus('Device', device, (s) => {
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

    async markFailed(device: string, stepName: string, message: string): Promise<void> {
      provisionings.inc({ outcome: 'failed' });
      try {
        store.updateStatus('Device', device, (s) => {
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
        store.updateStatus('Device', device, (s) => ({ ...s, phase: 'Deprovisioning' }));
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    },

    /** The gateway the device's session was last on, if it is a known gateway. */
    async sessionGateway(device: string): Promise<{ name: string; taskQueue: string } | null> {
      const name = store.get('Device', device)?.status.gateway?.name;
      if (!name) return null;
      const gateway = store.get('Gateway', name);
      return gateway ? { name, taskQueue: gateway.status.taskQueue ?? gatewayTaskQueue(name) } : null;
    },

    async stopEmulator(device: string): Promise<number> {
      const stopped = await runtimeFor(device).stop(device);
      logger.info('stopped device processes', { device, stopped });
      return stopped;
    },

    async revokeCertificate(device: string): Promise<number> {
      return deps.certificates.revoke(device);
    },

    async removeVolume(device: string): Promise<void> {
      await runtimeFor(device).removeVolume(device);
    },

    async deleteDevice(device: string): Promise<boolean> {
      return store.delete('Device', device);
    },
  };
}

function resetFailed(step: ProvisioningStep): ProvisioningStep {
  return step.state === 'Failed' ? { name: step.name, state: 'Pending' } : step;
}

export type OrchestratorActivities = ReturnType<typeof createOrchestratorActivities>;
