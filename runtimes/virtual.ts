/**
 * The virtual runtime's volumes (`VirtualVolumes`: firmware image, memory image, UART log,
 * owner marker), on which the device host runs its virtual devices in its own process
 * (host/hosted-virtual-runtime.ts). Every operation is idempotent so a retried or re-run
 * activity adopts what exists.
 */
import fs from 'node:fs';
import path from 'node:path';
import { paths } from '../common/config.js';
import { REPO_ROOT } from '../common/repo-root.js';
import { buildMemoryImage, type DeviceCredentials } from '../device/memory-contract.js';
import { volumeFiles } from '../device/volume-layout.js';
import {
  copyFirmwareVerified,
  ensureDeviceKey,
  prepareVolume,
  readFirmwareSource,
  volumeDevices,
  writeAtomically,
} from './local-volume.js';
import { findProcessesMatching, terminate } from './process-table.js';
import type { DeviceKey } from './runtime.js';

export const DEFAULT_VIRTUAL_FIRMWARE = path.join(REPO_ROOT, 'device', 'firmware', 'wasmbed-virtual.fw.json');

export interface VirtualOwner {
  host: string;
  mcuType: string;
}

/** The volume side of a virtual device. */
export class VirtualVolumes {
  readonly kind = 'virtual' as const;

  constructor(readonly home: string) {}

  volumeOf(device: string): string {
    return paths.volume(this.home, device);
  }

  prepareVolume(device: string): string {
    return prepareVolume(this.volumeOf(device));
  }

  deviceKey(device: string): DeviceKey {
    return ensureDeviceKey(this.volumeOf(device));
  }

  /** Copies the firmware into the volume and verifies the copy by SHA-256. */
  copyFirmware(device: string, source = DEFAULT_VIRTUAL_FIRMWARE): { sha256: string; bytes: number } {
    return copyFirmwareVerified(
      device,
      readFirmwareSource(source),
      volumeFiles(this.volumeOf(device)).firmware,
    );
  }

  /** Writes the endpoint and credentials blocks, then lets the CPU run. */
  writeMemory(device: string, endpoint: string, credentials: DeviceCredentials): void {
    const files = volumeFiles(this.volumeOf(device));
    const image = buildMemoryImage(endpoint, credentials);
    const current = fs.existsSync(files.memory) ? fs.readFileSync(files.memory) : undefined;
    if (!current || !current.equals(image)) writeAtomically(files.memory, image);
    if (!fs.existsSync(files.cpuRun)) writeAtomically(files.cpuRun, new Date().toISOString());
  }

  /** Records that `owner.host` runs the device, so that host resumes it after a restart. */
  markOwner(device: string, owner: VirtualOwner): void {
    writeAtomically(volumeFiles(this.volumeOf(device)).owner, JSON.stringify(owner));
  }

  clearOwner(device: string): void {
    fs.rmSync(volumeFiles(this.volumeOf(device)).owner, { force: true });
  }

  /** The devices `host` should be running, by their owner markers. */
  ownedBy(host: string): { device: string; owner: VirtualOwner }[] {
    const owned: { device: string; owner: VirtualOwner }[] = [];
    for (const device of volumeDevices(this.home)) {
      try {
        const owner = JSON.parse(
          fs.readFileSync(volumeFiles(this.volumeOf(device)).owner, 'utf8'),
        ) as VirtualOwner;
        if (owner.host === host) owned.push({ device, owner });
      } catch {
        // no marker (stopped, or never started), or one being written
      }
    }
    return owned;
  }

  async removeVolume(device: string): Promise<void> {
    fs.rmSync(this.volumeOf(device), { recursive: true, force: true });
  }
}

/**
 * Device processes left by the per-process mode of earlier versions (each virtual device a
 * detached Node process, `--device=<name> --volume=<its volume>`): the device host stops them
 * before it resumes their devices in itself, so no device runs twice with one key.
 */
export async function stopLeftoverDeviceProcesses(home: string): Promise<number> {
  const volumes = path.dirname(paths.volume(home, 'x')) + path.sep;
  const pids = findProcessesMatching(
    (argv) =>
      argv.some((a) => a.startsWith('--device=')) && argv.some((a) => a.startsWith(`--volume=${volumes}`)),
  );
  await Promise.all(pids.map((pid) => terminate(pid)));
  return pids.length;
}
