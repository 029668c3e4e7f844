/**
 * The runtime activities of a device: volume, firmware, emulator, memory blocks. They run in
 * the device host that owns the device (host/main.ts, task queue `wasmbed-host-<id>`), beside
 * the emulators they act on, so a second machine's worker never looks for a device in its own
 * /proc. Each is idempotent: run again after a crash or a retry, it adopts what exists.
 */
import { NotFoundError, ValidationError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { DeviceCertificates } from '../pki/index.js';
import type { DeviceRuntimeBackend, RuntimeRegistry, StartedEmulator } from '../runtimes/runtime.js';
import type { ResourceStore } from '../store/resource-store.js';
import { stepRecorder } from './provisioning-status.js';

export interface DeviceRuntimeDeps {
  store: ResourceStore;
  certificates: DeviceCertificates;
  caPem: string;
  runtimes: RuntimeRegistry;
  logger: Logger;
}

export function createDeviceRuntimeActivities(deps: DeviceRuntimeDeps) {
  const { store, logger } = deps;
  const step = stepRecorder(store);

  /** The backend for the device's runtime (spec.runtime). */
  function runtimeOf(device: string): DeviceRuntimeBackend {
    const kind = store.get('Device', device)?.spec.runtime ?? 'virtual';
    const backend = deps.runtimes[kind];
    if (!backend) throw new ValidationError('runtime', `runtime "${kind}" is not available on this host`);
    return backend;
  }

  /** Deprovisioning may run after the Device is gone: fall back to the virtual runtime then. */
  function runtimeFor(device: string): DeviceRuntimeBackend {
    return store.get('Device', device) ? runtimeOf(device) : deps.runtimes.virtual!;
  }

  async function startOrAdopt(device: string): Promise<StartedEmulator> {
    const spec = store.get('Device', device)?.spec;
    if (!spec) throw new NotFoundError('Device', device);
    return runtimeOf(device).start(device, spec.mcuType);
  }

  return {
    async prepareVolume(device: string): Promise<string> {
      return step(device, 'prepareVolume', () => runtimeOf(device).prepareVolume(device));
    },

    async copyFirmware(device: string, firmware?: string): Promise<{ sha256: string; bytes: number }> {
      return step(device, 'copyFirmware', () => runtimeOf(device).copyFirmware(device, firmware));
    },

    async startEmulator(device: string): Promise<StartedEmulator> {
      return step(device, 'startEmulator', async () => {
        const result = await startOrAdopt(device);
        logger.info(result.adopted ? 'adopted running device' : 'started device', { device, id: result.id });
        return result;
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

    /** Recovery: starts the emulator again if it is not running (adopts it if it is). */
    async ensureEmulator(device: string): Promise<{ restarted: boolean }> {
      const result = await startOrAdopt(device);
      if (!result.adopted) logger.info('recovery restarted the emulator', { device, id: result.id });
      return { restarted: !result.adopted };
    },

    async stopEmulator(device: string): Promise<number> {
      const stopped = await runtimeFor(device).stop(device);
      logger.info('stopped device', { device, stopped });
      return stopped;
    },

    async removeVolume(device: string): Promise<void> {
      await runtimeFor(device).removeVolume(device);
    },
  };
}

export type DeviceRuntimeActivities = ReturnType<typeof createDeviceRuntimeActivities>;
