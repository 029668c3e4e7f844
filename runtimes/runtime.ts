/**
 * What provisioning needs from a device runtime (virtual, docker, renode, qemu). Every
 * operation is idempotent: called again after a crash it adopts what exists.
 */
import type { DeviceCredentials } from '../device/memory-contract.js';
import type { DeviceRuntime } from '../common/resources.js';

export interface StartedEmulator {
  /** A pid, container id or similar: what the runtime runs the device as. */
  id: string;
  adopted: boolean;
}

/** A device's own key pair as read from its volume (the private half never leaves that host's memory). */
export interface DeviceKey {
  /** PKCS#8 PEM. */
  keyPem: string;
  /** SPKI PEM: what the CA certifies. */
  publicKeyPem: string;
}

export interface DeviceRuntimeBackend {
  readonly kind: DeviceRuntime;
  prepareVolume(device: string): Promise<string> | string;
  /**
   * The device's key pair, kept in its volume (mode 0600; made on first use, EC P-256). The
   * certificate is issued for its public half; the private half goes only into device memory.
   */
  deviceKey(device: string): Promise<DeviceKey> | DeviceKey;
  /** Copies the firmware into the device's volume and verifies the copy by SHA-256. */
  copyFirmware(
    device: string,
    source?: string,
  ): Promise<{ sha256: string; bytes: number }> | { sha256: string; bytes: number };
  /** Starts the emulator with its CPU halted, or adopts the running one. */
  start(device: string, mcuType: string): Promise<StartedEmulator> | StartedEmulator;
  /** Writes the endpoint and credential blocks into device memory, then lets the CPU run. */
  writeMemory(device: string, endpoint: string, credentials: DeviceCredentials): Promise<void> | void;
  /** Stops every emulator process/container of the device; returns how many. */
  stop(device: string): Promise<number> | number;
  removeVolume(device: string): Promise<void> | void;
}

export type RuntimeRegistry = Partial<Record<DeviceRuntime, DeviceRuntimeBackend>>;
