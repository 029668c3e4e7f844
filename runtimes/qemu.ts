/**
 * The qemu runtime: boards QEMU models with a NIC (today Mps2An385: `-M mps2-an385`, whose
 * lan9118 is on the board), one detached qemu-system-arm process per device.
 *
 * The memory blocks go in with `-device loader,file=…,addr=0x20001000` (and 0x20002000 for the
 * credentials). QEMU applies loader images at reset, before the first instruction, so the
 * blocks are in RAM before the CPU runs. A running VM cannot take a new loader, so qemu is
 * launched when the blocks are known: `start` checks everything it can (board, binary,
 * firmware) and adopts a running qemu, or relaunches one whose blocks are already in the
 * volume (recovery); `writeMemory` writes the block files and launches (or, if the blocks
 * changed, relaunches) the VM. Until then the device's CPU is, in effect, halted.
 *
 * Networking is user-mode (slirp): the guest reaches the host as 10.0.2.2, so a loopback
 * gateway endpoint (127.0.0.1:8081) is written as 10.0.2.2:8081. The UART goes to
 * <volume>/uart.log.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isHostOnlyAddress, paths } from '../common/config.js';
import { ValidationError, WasmbedError } from '../common/errors.js';
import { MCU_PROFILES, MCU_TYPES, isMcuType } from '../common/mcu-profiles.js';
import { QEMU_DEFAULT_HOST_ALIAS } from '../common/emulator-hosts.js';
import { REPO_ROOT } from '../common/repo-root.js';
import {
  CREDENTIALS_BLOCK_ADDRESS,
  ENDPOINT_BLOCK_ADDRESS,
  encodeCredentialsBlock,
  encodeEndpointBlock,
  parseEndpoint,
  type DeviceCredentials,
} from '../device/memory-contract.js';
import { findProcesses, terminate } from './process-table.js';
import type { DeviceKey, DeviceRuntimeBackend, StartedEmulator } from './runtime.js';
import type { UartFileFollower } from './uart-file-follower.js';
import {
  FirmwareError,
  copyFirmwareVerified,
  ensureDeviceKey,
  prepareVolume,
  readFirmwareSource,
  volumeDevices,
  sha256,
  writeAtomically,
} from './local-volume.js';

export const QEMU_TEST_FIRMWARE_DIR = path.join(REPO_ROOT, 'qemu', 'test-firmware');

export interface QemuRuntimeOptions {
  home: string;
  /** qemu-system-arm (WASMBED_QEMU_BIN). */
  binary?: string;
  /** Firmware when the device names none (WASMBED_QEMU_FIRMWARE); otherwise the device's spec.firmware. */
  defaultFirmware?: string;
  /** What the guest dials for the host under user-mode networking. */
  hostAlias?: string;
  /** Streams each running qemu's UART file into the device log (the worker passes one). */
  uart?: UartFileFollower;
  /** How long a freshly launched qemu must stay up to count as booted. */
  bootCheckMs?: number;
}

export function qemuOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<QemuRuntimeOptions> {
  return {
    binary: env.WASMBED_QEMU_BIN || undefined,
    defaultFirmware: env.WASMBED_QEMU_FIRMWARE || undefined,
    hostAlias: env.WASMBED_QEMU_HOST_ALIAS || undefined,
  };
}

export const qemuFiles = (volume: string) => ({
  firmware: path.join(volume, 'firmware.elf'),
  endpoint: path.join(volume, 'endpoint.blk'),
  credentials: path.join(volume, 'credentials.blk'),
  /** sha256 of the blocks the running qemu was launched with. */
  launched: path.join(volume, 'launched.sha256'),
  uart: path.join(volume, 'uart.log'),
  qemuLog: path.join(volume, 'qemu.log'),
  mcuType: path.join(volume, 'mcu-type'),
});

/** The guest's view of the gateway endpoint: loopback hosts become the slirp host alias. */
export function guestEndpoint(endpoint: string, hostAlias = QEMU_DEFAULT_HOST_ALIAS): string {
  const { host, port } = parseEndpoint(endpoint);
  return isHostOnlyAddress(host) ? `${hostAlias}:${port}` : endpoint;
}

/** The qemu machine for an MCU type, or a ValidationError naming the boards that work. */
export function qemuMachineFor(mcuType: string): string {
  const works = MCU_TYPES.filter(
    (t) => MCU_PROFILES[t].emulator.kind === 'qemu' && MCU_PROFILES[t].emulatedEthernet,
  );
  if (!isMcuType(mcuType))
    throw new ValidationError(
      'mcuType',
      `mcuType "${mcuType}" is unknown; boards that work with qemu: ${works.join(', ')}`,
    );
  const profile = MCU_PROFILES[mcuType];
  if (profile.emulator.kind !== 'qemu' || !profile.emulatedEthernet) {
    throw new ValidationError(
      'mcuType',
      `mcuType "${mcuType}" (board ${profile.zephyrBoard}) cannot run under qemu with a network; boards that work with qemu: ${works.join(', ')}`,
    );
  }
  return profile.emulator.machine;
}

/** qemu-system-arm's command line for a device (exported for tests and docs). */
export function qemuArgs(device: string, volume: string, machine: string): string[] {
  const files = qemuFiles(volume);
  return [
    '-M',
    machine,
    '-name',
    `wasmbed-${device}`,
    '-nographic',
    '-monitor',
    'none',
    '-chardev',
    `file,id=uart0,path=${files.uart},append=on`,
    '-serial',
    'chardev:uart0',
    '-kernel',
    files.firmware,
    '-device',
    `loader,file=${files.endpoint},addr=0x${ENDPOINT_BLOCK_ADDRESS.toString(16)},force-raw=on`,
    '-device',
    `loader,file=${files.credentials},addr=0x${CREDENTIALS_BLOCK_ADDRESS.toString(16)},force-raw=on`,
    // The board's own NIC (lan9118 on mps2-an385), user-mode networking: the host is 10.0.2.2.
    '-nic',
    'user,model=lan9118',
  ];
}

/** Builds the test firmware (qemu/test-firmware) with arm-none-eabi-gcc, cached by source hash under dist/. */
export function ensureQemuTestFirmware(): string {
  const sources = ['main.c', 'link.ld'].map((f) => path.join(QEMU_TEST_FIRMWARE_DIR, f));
  const hash = sha256(Buffer.concat(sources.map((f) => fs.readFileSync(f)))).slice(0, 16);
  const out = path.join(REPO_ROOT, 'dist', `qemu-test-firmware-${hash}`, 'firmware.elf');
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    execFileSync(
      'arm-none-eabi-gcc',
      [
        '-mcpu=cortex-m3',
        '-mthumb',
        '-Os',
        '-ffreestanding',
        '-nostdlib',
        '-nostartfiles',
        '-Wall',
        '-Wextra',
        '-Werror',
        '-T',
        sources[1]!,
        sources[0]!,
        '-o',
        tmp,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    throw new WasmbedError(
      'FirmwareBuildFailed',
      `building the qemu test firmware failed (is gcc-arm-none-eabi installed? sudo bash scripts/setup-docker.sh): ${stderr.trim()}`,
    );
  }
  fs.renameSync(tmp, out);
  return out;
}

export class QemuRuntime implements DeviceRuntimeBackend {
  readonly kind = 'qemu' as const;
  private readonly binary: string;
  private readonly hostAlias: string;
  private readonly bootCheckMs: number;

  constructor(private readonly options: QemuRuntimeOptions) {
    this.binary = options.binary ?? 'qemu-system-arm';
    this.hostAlias = options.hostAlias ?? QEMU_DEFAULT_HOST_ALIAS;
    this.bootCheckMs = options.bootCheckMs ?? 300;
  }

  volumeOf(device: string): string {
    return paths.volume(this.options.home, device);
  }

  prepareVolume(device: string): string {
    return prepareVolume(this.volumeOf(device));
  }

  deviceKey(device: string): DeviceKey {
    return ensureDeviceKey(this.volumeOf(device));
  }

  copyFirmware(device: string, source?: string): { sha256: string; bytes: number } {
    const file = source ?? this.options.defaultFirmware;
    if (!file) {
      throw new ValidationError(
        'firmware',
        "the qemu runtime needs a firmware ELF: set the device's firmware to its path (or WASMBED_QEMU_FIRMWARE)",
      );
    }
    return copyFirmwareVerified(
      device,
      readFirmwareSource(file, 'ELF'),
      qemuFiles(this.volumeOf(device)).firmware,
    );
  }

  runningPids(device: string): number[] {
    return findProcesses(['-kernel', qemuFiles(this.volumeOf(device)).firmware]);
  }

  private checkBinary(): void {
    try {
      execFileSync(this.binary, ['--version'], { stdio: 'ignore' });
    } catch {
      throw new WasmbedError(
        'EmulatorUnavailable',
        `${this.binary} not found or not runnable: install it with sudo bash scripts/setup-docker.sh (or set WASMBED_QEMU_BIN)`,
      );
    }
  }

  /**
   * Adopts a running qemu; relaunches one whose blocks are in the volume already (recovery);
   * otherwise checks board, binary and firmware and leaves the CPU halted: qemu is launched by
   * writeMemory, with the blocks.
   */
  async start(device: string, mcuType: string): Promise<StartedEmulator> {
    const machine = qemuMachineFor(mcuType);
    const running = this.runningPids(device);
    if (running.length > 0) {
      this.followUart(device);
      return { id: String(running[0]), adopted: true };
    }
    const files = qemuFiles(this.volumeOf(device));
    if (!fs.existsSync(files.firmware))
      throw new FirmwareError('FirmwareMissing', `no firmware in the volume of ${device}; copy it first`);
    this.checkBinary();
    writeAtomically(files.mcuType, mcuType, 0o644);
    if (fs.existsSync(files.endpoint) && fs.existsSync(files.credentials)) {
      return { id: String(await this.launch(device, machine)), adopted: false };
    }
    return { id: `halted:${device}`, adopted: false };
  }

  private async launch(device: string, machine: string): Promise<number> {
    const volume = this.volumeOf(device);
    const files = qemuFiles(volume);
    const log = fs.openSync(files.qemuLog, 'a');
    try {
      const child = spawn(this.binary, qemuArgs(device, volume, machine), {
        cwd: volume,
        detached: true, // outlives the worker; the next one adopts it
        stdio: ['ignore', log, log],
      });
      child.unref();
      if (child.pid === undefined)
        throw new WasmbedError('SpawnFailed', `could not start qemu for ${device}`);
      writeAtomically(files.launched, this.blocksHash(volume), 0o644);
      this.followUart(device);
      const exit = await new Promise<number | null | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), this.bootCheckMs);
        child.once('exit', (code) => {
          clearTimeout(timer);
          resolve(code);
        });
      });
      if (exit !== undefined) {
        const tail = fs.readFileSync(files.qemuLog, 'utf8').trim().split('\n').slice(-3).join(' | ');
        throw new WasmbedError(
          'EmulatorExited',
          `qemu for ${device} exited with code ${exit} while booting: ${tail}`,
        );
      }
      return child.pid;
    } finally {
      fs.closeSync(log);
    }
  }

  private blocksHash(volume: string): string {
    const files = qemuFiles(volume);
    return sha256(Buffer.concat([fs.readFileSync(files.endpoint), fs.readFileSync(files.credentials)]));
  }

  /** Writes the block files, then launches qemu with them (relaunches it if the blocks changed). */
  async writeMemory(device: string, endpoint: string, credentials: DeviceCredentials): Promise<void> {
    const volume = this.volumeOf(device);
    const files = qemuFiles(volume);
    const endpointBlock = encodeEndpointBlock(guestEndpoint(endpoint, this.hostAlias));
    const credentialsBlock = encodeCredentialsBlock(credentials);
    for (const [file, block] of [
      [files.endpoint, endpointBlock],
      [files.credentials, credentialsBlock],
    ] as const) {
      if (!fs.existsSync(file) || !fs.readFileSync(file).equals(block)) writeAtomically(file, block, 0o600);
    }
    const mcuType = fs.existsSync(files.mcuType)
      ? fs.readFileSync(files.mcuType, 'utf8').trim()
      : 'Mps2An385';
    const machine = qemuMachineFor(mcuType);
    const running = this.runningPids(device);
    if (running.length > 0) {
      const launchedWith = fs.existsSync(files.launched)
        ? fs.readFileSync(files.launched, 'utf8').trim()
        : '';
      if (launchedWith === this.blocksHash(volume)) return;
      // New blocks (another gateway, a renewed certificate): a board is reset with them.
      await Promise.all(running.map((pid) => terminate(pid)));
    }
    this.checkBinary();
    await this.launch(device, machine);
  }

  async stop(device: string): Promise<number> {
    const pids = this.runningPids(device);
    await Promise.all(pids.map((pid) => terminate(pid)));
    await this.options.uart?.unfollow(device);
    return pids.length;
  }

  /** After a worker restart: streams the UART of every qemu an earlier worker started. */
  followRunning(): void {
    for (const device of volumeDevices(this.options.home)) {
      if (this.runningPids(device).length > 0) this.followUart(device);
    }
  }

  private followUart(device: string): void {
    this.options.uart?.follow(device, qemuFiles(this.volumeOf(device)).uart);
  }

  removeVolume(device: string): void {
    fs.rmSync(this.volumeOf(device), { recursive: true, force: true });
  }
}
