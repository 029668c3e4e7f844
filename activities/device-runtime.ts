/**
 * The runtime activities of a device: key and certificate, volume, firmware, emulator, memory
 * blocks. They run in the device host that owns the device (host/main.ts, task queue
 * `wasmbed-host-<id>`), beside the emulators they act on, so a second machine's worker never
 * looks for a device in its own /proc and a device's private key never leaves the machine that
 * runs it. Each is idempotent: run again after a crash or a retry, it adopts what exists.
 */
import { NotFoundError, ValidationError, WasmbedError } from '../common/errors.js';
import { FailureType, toApplicationFailure } from '../common/failures.js';
import type { Logger } from '../common/logger.js';
import type { DeviceIdentity } from '../common/resources.js';
import type { CertificateRecord, DeviceCertificates } from '../pki/index.js';
import type { DeviceRuntimeBackend, RuntimeRegistry, StartedEmulator } from '../runtimes/runtime.js';
import type { ResourceStore } from '../store/resource-store.js';
import { whileHeartbeating } from '../temporal/activity-heartbeat.js';
import { stepRecorder } from './provisioning-status.js';

export interface DeviceRuntimeDeps {
  /** The host these activities run in: it acts only on the devices placed on it (status.host). */
  hostId: string;
  store: ResourceStore;
  certificates: DeviceCertificates;
  caPem: string;
  runtimes: RuntimeRegistry;
  logger: Logger;
  /** For tests only (config.host.testStepDelayMs): how long each host step waits after its work. */
  testStepDelayMs?: number;
}

export function createDeviceRuntimeActivities(deps: DeviceRuntimeDeps) {
  const { store, logger } = deps;
  const record = stepRecorder(store);
  /**
   * One of provisioning's host steps (those of its host child), recorded on the device. A test
   * may hold each one open after its work (testStepDelayMs), to kill the host inside the child.
   */
  const step = <T>(device: string, name: string, work: () => Promise<T> | T): Promise<T> =>
    record(device, name, async () => {
      const result = await work();
      if (deps.testStepDelayMs) await new Promise((resolve) => setTimeout(resolve, deps.testStepDelayMs));
      return result;
    });

  /** The backend for the device's runtime (spec.runtime). */
  async function runtimeOf(device: string): Promise<DeviceRuntimeBackend> {
    const kind = (await store.get('Device', device))?.spec.runtime ?? 'virtual';
    const backend = deps.runtimes[kind];
    if (!backend) throw new ValidationError('runtime', `runtime "${kind}" is not available on this host`);
    return backend;
  }

  /** Deprovisioning may run after the Device is gone: fall back to the virtual runtime then. */
  async function runtimeFor(device: string): Promise<DeviceRuntimeBackend> {
    return (await store.get('Device', device)) ? runtimeOf(device) : deps.runtimes.virtual!;
  }

  /**
   * The fence: a device placed on another host (it moved while this one was away) must not be
   * started or given credentials here — that would be a second copy of it. (A device from
   * before hosts were recorded has none: it is this host's.)
   */
  async function assertOwned(device: string): Promise<void> {
    const owner = (await store.get('Device', device))?.status.host;
    if (owner !== undefined && owner !== deps.hostId) {
      throw toApplicationFailure(
        new WasmbedError(
          FailureType.NotDeviceOwner,
          `device ${device} runs on host ${owner}, not on ${deps.hostId}`,
        ),
      );
    }
  }

  async function startOrAdopt(device: string): Promise<StartedEmulator> {
    const spec = (await store.get('Device', device))?.spec;
    if (!spec) throw new NotFoundError('Device', device);
    await assertOwned(device);
    return (await runtimeOf(device)).start(device, spec.mcuType);
  }

  /**
   * The certificate for the key the runtime keeps in the device's volume on this host (made
   * there on first use): the active one if it certifies that key, else a new one, and the old
   * one is revoked (a device brought back on another host has a new key). The private key
   * never leaves this host; the certificate table holds no key for these devices.
   */
  async function certificateForDeviceKey(device: string): Promise<CertificateRecord> {
    await assertOwned(device);
    const { publicKeyPem } = await (await runtimeOf(device)).deviceKey(device);
    return deps.certificates.issue(device, { publicKeyPem });
  }

  async function recordIdentity(device: string, record: CertificateRecord): Promise<DeviceIdentity> {
    const identity = { certSerial: record.serial, spkiSha256: record.spkiSha256, notAfter: record.notAfter };
    await store.updateStatus('Device', device, (s) => ({ ...s, identity }));
    return identity;
  }

  return {
    /** The certificate for the device's key, which is made and kept in its volume on this host. */
    async issueCertificate(device: string): Promise<DeviceIdentity> {
      return step(device, 'issueCertificate', async () =>
        recordIdentity(device, await certificateForDeviceKey(device)),
      );
    },

    /** Revokes the device's certificate and issues a new one for the same key (rotation on request). */
    async replaceCertificate(device: string): Promise<DeviceIdentity> {
      await deps.certificates.revoke(device);
      return recordIdentity(device, await certificateForDeviceKey(device));
    },

    async prepareVolume(device: string): Promise<string> {
      return step(device, 'prepareVolume', async () => (await runtimeOf(device)).prepareVolume(device));
    },

    /** `firmware`: the device's spec.firmware when not given (recovery on a new host). */
    async copyFirmware(device: string, firmware?: string): Promise<{ sha256: string; bytes: number }> {
      const source = firmware ?? (await store.get('Device', device))?.spec.firmware;
      return step(device, 'copyFirmware', async () => (await runtimeOf(device)).copyFirmware(device, source));
    },

    /**
     * Run as an activity of its own for an emulator that may take long to start (building its
     * image, booting): it heartbeats meanwhile (slowEmulatorStartOptions' heartbeatTimeout).
     */
    async startEmulator(device: string): Promise<StartedEmulator> {
      return step(device, 'startEmulator', async () => {
        const result = await whileHeartbeating(
          () => startOrAdopt(device),
          () => ({ device }),
        );
        logger.info(result.adopted ? 'adopted running device' : 'started device', { device, id: result.id });
        return result;
      });
    },

    async writeEndpoint(device: string, endpoint: string): Promise<void> {
      return record(device, 'writeEndpoint', async () => {
        await assertOwned(device);
        const runtime = await runtimeOf(device);
        const key = await runtime.deviceKey(device);
        const record = await deps.certificates.issue(device, { publicKeyPem: key.publicKeyPem });
        await runtime.writeMemory(device, endpoint, {
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
      const stopped = await (await runtimeFor(device)).stop(device);
      logger.info('stopped device', { device, stopped });
      return stopped;
    },

    async removeVolume(device: string): Promise<void> {
      await (await runtimeFor(device)).removeVolume(device);
    },
  };
}

export type DeviceRuntimeActivities = ReturnType<typeof createDeviceRuntimeActivities>;
