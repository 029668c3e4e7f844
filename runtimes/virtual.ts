/**
 * The virtual runtime's volumes (`VirtualVolumes`: firmware image, memory image, UART log,
 * owner marker) and its per-process mode (`VirtualRuntime`: each device a detached Node
 * process, device/main.ts). The device host's default runs devices in its own process instead
 * (host/hosted-virtual-runtime.ts) on the same volumes. Every operation is idempotent so a
 * retried or re-run activity adopts what exists.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { paths } from '../common/config.js';
import { WasmbedError } from '../common/errors.js';
import { REPO_ROOT } from '../common/repo-root.js';
import { buildMemoryImage, type DeviceCredentials } from '../device/memory-contract.js';
import { volumeFiles } from '../device/volume-layout.js';
import {
  FirmwareError,
  copyFirmwareVerified,
  ensureDeviceKey,
  prepareVolume,
  readFirmwareSource,
  volumeDevices,
  writeAtomically,
} from './local-volume.js';
import { findProcesses, terminate } from './process-table.js';
import type { DeviceKey, DeviceRuntimeBackend, StartedEmulator } from './runtime.js';

export const DEFAULT_VIRTUAL_FIRMWARE = path.join(REPO_ROOT, 'device', 'firmware', 'wasmbed-virtual.fw.json');
export const DEVICE_ENTRY = path.join(REPO_ROOT, 'device', 'main.ts');

/** How long a freshly started device may take to boot its firmware. */
const BOOT_TIMEOUT_MS = 15_000;

export interface VirtualOwner {
  host: string;
  mcuType: string;
}

/** The volume side of a virtual device, shared by both ways of running it. */
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

/** One detached Node process per device. */
export class VirtualRuntime extends VirtualVolumes implements DeviceRuntimeBackend {
  /**
   * `deviceEntry`: the device program, a bundle from ensureDeviceBundle() or device/main.ts (run
   * through tsx). `hostId`: the device host that starts the processes (recorded on the volume).
   */
  constructor(
    home: string,
    private readonly deviceEntry: string = DEVICE_ENTRY,
    private readonly hostId?: string,
  ) {
    super(home);
  }

  processMarkers(device: string): string[] {
    return [`--device=${device}`, `--volume=${this.volumeOf(device)}`];
  }

  runningPids(device: string): number[] {
    return findProcesses(this.processMarkers(device));
  }

  /**
   * Starts the device halted (it waits for cpu.run), or adopts the process that already
   * runs for it. Returns its pid.
   */
  async start(device: string, mcuType: string): Promise<StartedEmulator> {
    const running = this.runningPids(device);
    if (running.length > 0) return { id: String(running[0]), adopted: true };
    const volume = this.volumeOf(device);
    if (!fs.existsSync(volumeFiles(volume).firmware)) {
      throw new FirmwareError('FirmwareMissing', `no firmware in the volume of ${device}; copy it first`);
    }
    if (this.hostId) this.markOwner(device, { host: this.hostId, mcuType });
    const files = volumeFiles(volume);
    fs.rmSync(files.booted, { force: true });
    const uart = fs.openSync(files.uart, 'a');
    try {
      const loader = this.deviceEntry.endsWith('.ts') ? ['--import', 'tsx'] : [];
      const child = spawn(
        process.execPath,
        [...loader, this.deviceEntry, ...this.processMarkers(device), `--mcu-type=${mcuType}`],
        {
          cwd: REPO_ROOT,
          detached: true, // survives the worker that started it; adopted by the next one
          stdio: ['ignore', uart, uart],
          env: { ...process.env, WASMBED_DEVICE_NAME: device },
        },
      );
      child.unref();
      if (child.pid === undefined) throw new WasmbedError('SpawnFailed', `could not start device ${device}`);
      // Wait until the device says its firmware booted: one that cannot boot (bad firmware)
      // exits, and we report why now instead of letting the session wait time out later.
      const exit = await new Promise<number | null | 'timeout' | undefined>((resolve) => {
        const booted = () =>
          fs.existsSync(files.booted) && fs.readFileSync(files.booted, 'utf8') === String(child.pid);
        const poll = setInterval(() => booted() && done(undefined), 25);
        const timer = setTimeout(() => done('timeout'), BOOT_TIMEOUT_MS);
        const onExit = (code: number | null) => done(code);
        const done = (result: number | null | 'timeout' | undefined) => {
          clearInterval(poll);
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve(result);
        };
        child.once('exit', onExit);
      });
      if (exit !== undefined) {
        if (exit === 'timeout') await terminate(child.pid);
        const uartTail = fs.readFileSync(files.uart, 'utf8').trim().split('\n').slice(-2).join(' | ');
        const what =
          exit === 'timeout'
            ? `did not boot within ${BOOT_TIMEOUT_MS} ms`
            : `exited with code ${exit} while booting`;
        throw new WasmbedError('EmulatorExited', `device ${device} ${what}: ${uartTail}`);
      }
      return { id: String(child.pid), adopted: false };
    } finally {
      fs.closeSync(uart);
    }
  }

  async stop(device: string): Promise<number> {
    this.clearOwner(device);
    const pids = this.runningPids(device);
    await Promise.all(pids.map((pid) => terminate(pid)));
    return pids.length;
  }
}
