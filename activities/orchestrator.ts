/**
 * Activities of the orchestrator worker: thin adapters from Temporal to the store and the
 * PKI (the device runtimes' activities run on the owning device host: device-runtime.ts).
 * Each is idempotent: running it again after a crash or a
 * retry finds and adopts what the earlier attempt made.
 */
import { counter } from '../common/metrics.js';
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { gatewayTaskQueue, hostTaskQueue } from '../common/config.js';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../common/errors.js';
import { FailureType } from '../common/failures.js';
import type { Logger } from '../common/logger.js';
import type { DeviceIdentity, DeviceSpec, ProvisioningStep } from '../common/resources.js';
import type { CertificateRecord, DeviceCertificates } from '../pki/index.js';
import type { DeviceRuntimeBackend, RuntimeRegistry } from '../runtimes/runtime.js';
import type { ResourceStore } from '../store/resource-store.js';
import { chooseGateway } from './gateway-placement.js';
import { freshSteps, setCondition, setStep, stepRecorder } from './provisioning-status.js';
import {
  enrollWorkflowId,
  lifecycleWorkflowId,
  provisionWorkflowId,
  type LifecycleSettings,
} from '../workflows/contracts/index.js';

export interface OrchestratorDeps {
  store: ResourceStore;
  certificates: DeviceCertificates;
  caPem: string;
  /** This machine's device host: new devices go to it. */
  hostId: string;
  /**
   * The runtimes, for the device keys in the volumes only (issueCertificate); everything else a
   * runtime does runs on the device's host (activities/device-runtime.ts).
   */
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
  /** The device host that owns the device, where its endpoint block is written. */
  host?: OwningHost;
}

/** The device host that owns a device: its runtime activities go to `taskQueue`. */
export interface OwningHost {
  id: string;
  taskQueue: string;
}

export function createOrchestratorActivities(deps: OrchestratorDeps) {
  const { store } = deps;
  const provisionings = counter({
    name: 'wasmbed_provisionings_total',
    help: 'Provisioning runs that ended, by outcome (connected, failed)',
    labelNames: ['outcome'] as const,
  });

  /** Stores the identity of a freshly issued (or found) certificate on the device. */
  function recordIdentity(device: string, record: CertificateRecord): DeviceIdentity {
    const identity = { certSerial: record.serial, spkiSha256: record.spkiSha256, notAfter: record.notAfter };
    store.updateStatus('Device', device, (s) => ({ ...s, identity }));
    return identity;
  }

  /** Keys only: a device's key is made and kept in its volume by its runtime. */
  function runtimeOf(device: string): DeviceRuntimeBackend {
    const kind = store.get('Device', device)?.spec.runtime ?? 'virtual';
    const backend = deps.runtimes[kind];
    if (!backend) throw new ValidationError('runtime', `runtime "${kind}" is not available on this worker`);
    return backend;
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

  const step = stepRecorder(store);

  /** The host that owns the device: the one recorded on it, else this machine's. */
  function owningHost(device: string): OwningHost {
    const id = store.get('Device', device)?.status.host ?? deps.hostId;
    return { id, taskQueue: hostTaskQueue(id) };
  }

  return {
    /** Records the device (if a direct start) as Provisioning; returns the lifecycle settings of this platform. */
    async beginProvisioning(
      device: string,
      spec: DeviceSpec,
      workflowId: string,
    ): Promise<{ lifecycle: LifecycleSettings; host: OwningHost }> {
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
      // A device stays with the host that started it (its emulator runs there); a new one
      // goes to this machine's host.
      const host = owningHost(device);
      store.updateStatus('Device', device, (s) => ({
        ...s,
        phase: s.phase === 'Connected' ? s.phase : 'Provisioning',
        workflowId,
        host: host.id,
        message: undefined,
        steps: s.phase === 'Failed' || !s.steps ? (s.steps ?? freshSteps()).map(resetFailed) : s.steps,
      }));
      return { lifecycle: deps.lifecycle, host };
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
          host: owningHost(device),
        };
        store.updateStatus('Device', device, (s) => ({
          ...s,
          gateway: { name: assigned.name, endpoint: assigned.endpoint },
        }));
        return assigned;
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

    async revokeCertificate(device: string): Promise<number> {
      return deps.certificates.revoke(device);
    },

    /** The host owning the device, where its runtime activities (start, stop, volume) run. */
    async deviceHost(device: string): Promise<OwningHost> {
      return owningHost(device);
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
