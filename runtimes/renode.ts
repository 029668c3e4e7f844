/**
 * The renode runtime: Zephyr firmware on Renode's board models. One Renode per device, run as
 * a local binary or from an image (antmicro/renode) through the docker runtime.
 *
 * The .resc is generated from renode/boards.json: machine, platform .repl, LoadELF from the
 * volume, console UART to a file, and on boards with Ethernet a unique MAC and a tap per
 * device; then the endpoint and credential blocks as `sysbus WriteDoubleWord` commands, and
 * only then `start`. The runtime runs the same steps: `start` loads everything up to the blocks
 * (the machine stays paused) and `writeMemory` sends the block writes and `start` through
 * Renode's monitor port. `device.resc` in the volume holds the whole script, runnable by hand.
 *
 * Renode cannot be installed on the machine this was written on: everything here is tested
 * against a stand-in `renode` (test/support/renode-standin.mjs) that speaks Renode's command
 * line and monitor protocol, locally and as an image on a real engine; what a real Renode does
 * with the script is not (docs/runtimes.md).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { paths } from '../common/config.js';
import { EmulatorUnavailableError, ValidationError, WasmbedError, errorMessage } from '../common/errors.js';
import { MCU_PROFILES, MCU_TYPES, isMcuType, type McuType } from '../common/mcu-profiles.js';
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
import type { DeviceRuntimeBackend, StartedEmulator } from './runtime.js';
import type { UartFileFollower } from './uart-file-follower.js';
import { VOLUME_MOUNT, type DockerRuntime } from './docker.js';
import {
  FirmwareError,
  copyFirmwareVerified,
  prepareVolume,
  readFirmwareSource,
  volumeDevices,
  writeAtomically,
} from './local-volume.js';

export interface RenodeBoard {
  mcuType: McuType;
  repl: string;
  cpuRepl: string;
  /** Console UART, as the monitor names it. */
  uart: string;
  /** Ethernet MAC peripheral, or null when Renode's model of the board has none. */
  ethernet: string | null;
}

export const RENODE_BOARDS_FILE = path.join(REPO_ROOT, 'renode', 'boards.json');

export function loadRenodeBoards(file = RENODE_BOARDS_FILE): RenodeBoard[] {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { profiles: RenodeBoard[] };
  return parsed.profiles;
}

/** The board of a Renode profile, or a ValidationError naming the board and the boards that work. */
export function renodeBoardFor(mcuType: string, options: { network?: boolean } = {}): RenodeBoard {
  const boards = loadRenodeBoards();
  const works = boards.filter((b) => b.ethernet).map((b) => b.mcuType);
  const board = boards.find((b) => b.mcuType === mcuType);
  if (!isMcuType(mcuType) || !board) {
    throw new ValidationError(
      'mcuType',
      `mcuType "${mcuType}" is not a Renode board; boards that work with renode: ${works.join(', ')}`,
    );
  }
  if ((options.network ?? true) && !board.ethernet) {
    throw new ValidationError(
      'mcuType',
      `mcuType "${mcuType}" (board ${MCU_PROFILES[mcuType].zephyrBoard}, ${board.repl}) has no Ethernet in Renode and could never reach a gateway; boards that work with renode: ${works.join(', ')}`,
    );
  }
  return board;
}

/** A locally administered, unicast MAC derived from the device name: distinct per device, stable across restarts. */
export function macFor(device: string): string {
  const h = crypto.createHash('sha256').update(`wasmbed-mac:${device}`).digest();
  const bytes = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The device's tap interface (Linux limits names to 15 characters). */
export function tapFor(device: string): string {
  return `wb${crypto.createHash('sha256').update(`wasmbed-tap:${device}`).digest('hex').slice(0, 10)}`;
}

/** `sysbus WriteDoubleWord` commands that put `block` at `address` (little-endian words, zero padded). */
export function blockCommands(address: number, block: Buffer): string[] {
  const padded = Buffer.concat([block, Buffer.alloc((4 - (block.length % 4)) % 4)]);
  const lines: string[] = [];
  for (let i = 0; i < padded.length; i += 4) {
    lines.push(
      `sysbus WriteDoubleWord 0x${(address + i).toString(16)} 0x${padded.readUInt32LE(i).toString(16).padStart(8, '0')}`,
    );
  }
  return lines;
}

/** Replays WriteDoubleWord commands into a RAM image starting at `base` (for tests and checks). */
export function applyWriteCommands(lines: string[], base: number, size: number): Buffer {
  const memory = Buffer.alloc(size);
  for (const line of lines) {
    const m = /^sysbus WriteDoubleWord 0x([0-9a-f]+) 0x([0-9a-f]{8})$/.exec(line.trim());
    if (!m) continue;
    const offset = parseInt(m[1]!, 16) - base;
    if (offset >= 0 && offset + 4 <= size) memory.writeUInt32LE(parseInt(m[2]!, 16), offset);
  }
  return memory;
}

export interface RescOptions {
  device: string;
  mcuType: string;
  /** Where Renode sees the device's volume (a directory; /volume inside a container). */
  volume: string;
  firmwareFile?: string;
  /** Leave out network for a board without Ethernet (UART-only runs); networked runtimes never do. */
  allowNoNetwork?: boolean;
}

/** The part of the script before the memory blocks: the machine, loaded and paused. */
export function generatePrelude(options: RescOptions): string[] {
  const board = renodeBoardFor(options.mcuType, { network: !options.allowNoNetwork });
  const profile = MCU_PROFILES[board.mcuType];
  const firmware = `${options.volume}/${options.firmwareFile ?? 'firmware.elf'}`;
  const lines = [
    `# Wasmbed device ${options.device}: ${board.mcuType} (Zephyr board ${profile.zephyrBoard}) on ${board.repl}`,
    '# Generated by runtimes/renode.ts. The memory blocks are written before `start`.',
    `logFile @${options.volume}/renode.log`,
    `mach create "${options.device}"`,
    `machine LoadPlatformDescription @${board.repl}`,
    `sysbus LoadELF @${firmware}`,
    `${board.uart} CreateFileBackend @${options.volume}/uart.log true`,
  ];
  if (board.ethernet) {
    lines.push(
      `${board.ethernet} MAC "${macFor(options.device)}"`,
      'emulation CreateSwitch "switch"',
      `connector Connect ${board.ethernet} switch`,
      `emulation CreateTap "${tapFor(options.device)}" "tap"`,
      'connector Connect host.tap switch',
    );
  } else {
    lines.push(`# ${board.mcuType} has no Ethernet in Renode: UART only, it cannot reach a gateway`);
  }
  return lines;
}

/** The memory-block writes (endpoint, then credentials) as monitor commands. */
export function generateBlockWrites(endpoint: string, credentials: DeviceCredentials): string[] {
  return [
    `# endpoint block at 0x${ENDPOINT_BLOCK_ADDRESS.toString(16)}: ${endpoint}`,
    ...blockCommands(ENDPOINT_BLOCK_ADDRESS, encodeEndpointBlock(endpoint)),
    `# credentials block at 0x${CREDENTIALS_BLOCK_ADDRESS.toString(16)}`,
    ...blockCommands(CREDENTIALS_BLOCK_ADDRESS, encodeCredentialsBlock(credentials)),
  ];
}

/** The whole .resc: prelude, blocks, then `start`. */
export function generateResc(
  options: RescOptions & { endpoint: string; credentials: DeviceCredentials },
): string {
  return [
    ...generatePrelude(options),
    ...generateBlockWrites(options.endpoint, options.credentials),
    'start',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

/** A client for Renode's monitor port (`renode --port N`): one command at a time, output up to the next prompt. */
export class RenodeMonitor {
  private buffer = '';
  private waiter?: () => void;
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += RenodeMonitor.clean(chunk);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  /** Telnet negotiation (IAC …) and ANSI colour codes removed. */
  static clean(text: string): string {
    /* eslint-disable no-control-regex -- telnet negotiation and ANSI escapes are control bytes */
    return text
      .replace(/\xff[\xfb-\xfe]./gs, '')
      .replace(/\xff[\xf0-\xfa]/g, '')
      .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
      .replace(/\r/g, '');
    /* eslint-enable no-control-regex */
  }

  static readonly PROMPT = /\(([A-Za-z0-9_.-]+)\) ?$/;

  static async connect(host: string, port: number, timeoutMs = 30_000): Promise<RenodeMonitor> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ host, port }, () => resolve(s));
          s.once('error', reject);
        });
        const monitor = new RenodeMonitor(socket);
        await monitor.untilPrompt(Math.max(1000, deadline - Date.now()));
        return monitor;
      } catch (err) {
        if (Date.now() > deadline)
          throw new WasmbedError(
            'MonitorUnavailable',
            `Renode monitor at ${host}:${port} did not answer: ${String(err)}`,
          );
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private async untilPrompt(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!RenodeMonitor.PROMPT.test(this.buffer)) {
      if (this.closed) throw new WasmbedError('MonitorClosed', 'Renode closed the monitor connection');
      const left = deadline - Date.now();
      if (left <= 0) throw new WasmbedError('MonitorTimeout', `no monitor prompt within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    const text = this.buffer.replace(RenodeMonitor.PROMPT, '');
    this.buffer = '';
    return text;
  }

  /** Runs one command; returns its output. Renode's error replies become exceptions. */
  async execute(command: string, timeoutMs = 30_000): Promise<string> {
    if (/[\r\n]/.test(command)) throw new Error('one command per call');
    this.socket.write(`${command}\n`);
    const raw = await this.untilPrompt(timeoutMs);
    const lines = raw.split('\n');
    if (lines[0]?.trim() === command.trim()) lines.shift(); // the echo
    const output = lines.join('\n').trim();
    if (/^(There was an error|Could not find|No such command|error:)/im.test(output)) {
      throw new WasmbedError('MonitorCommandFailed', `Renode refused "${command}": ${output}`);
    }
    return output;
  }

  /** `quit`: Renode exits, so there is no prompt to wait for. */
  quit(): void {
    if (!this.closed) this.socket.write('quit\n');
    this.close();
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------------

export type RenodeMode = 'local' | 'docker';

export interface RenodeRuntimeOptions {
  home: string;
  /**
   * `local`: a renode binary on this machine; `docker`: the image through the docker runtime;
   * unset (auto): local when a renode binary is found, else the image.
   */
  mode?: RenodeMode;
  binary?: string;
  image?: string;
  /** The worker's docker runtime (one engine client, one UART follower): needed for docker mode. */
  docker?: DockerRuntime;
  /** Firmware ELF when the device names none. */
  defaultFirmware?: string;
  /** The address devices on the taps dial for the host; a loopback gateway endpoint is rewritten to it. */
  hostAddress?: string;
  /** Memory limit of a Renode container (docker mode), MiB; default 1024. */
  memoryMb?: number;
  /** How long Renode may take to answer on its monitor port after it was started. */
  monitorTimeoutMs?: number;
  /** Streams a local Renode's UART file into the device log (docker mode streams the container). */
  uart?: UartFileFollower;
}

export function renodeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<RenodeRuntimeOptions> {
  const mode = env.WASMBED_RENODE_MODE;
  if (mode && mode !== 'local' && mode !== 'docker' && mode !== 'auto') {
    throw new ValidationError(
      'WASMBED_RENODE_MODE',
      `WASMBED_RENODE_MODE="${mode}" is not local, docker or auto`,
    );
  }
  const memoryMb = env.WASMBED_RENODE_MEMORY_MB || undefined;
  if (memoryMb !== undefined && !(Number(memoryMb) > 0))
    throw new ValidationError(
      'WASMBED_RENODE_MEMORY_MB',
      `WASMBED_RENODE_MEMORY_MB="${memoryMb}" is not a positive number`,
    );
  return {
    mode: mode === 'local' || mode === 'docker' ? mode : undefined,
    binary: env.WASMBED_RENODE_BIN || undefined,
    image: env.WASMBED_RENODE_IMAGE || undefined,
    defaultFirmware: env.WASMBED_RENODE_FIRMWARE || undefined,
    hostAddress: env.WASMBED_RENODE_HOST_ADDRESS || undefined,
    memoryMb: memoryMb === undefined ? undefined : Number(memoryMb),
  };
}

export const DEFAULT_RENODE_IMAGE = 'antmicro/renode';
/** The label on a Renode container that records its monitor port. */
export const MONITOR_PORT_LABEL = 'wasmbed.io/renode-monitor-port';
/** The script Renode runs: the prelude until the blocks are known, then the whole .resc. */
export const DEVICE_RESC = 'device.resc';

/**
 * Renode's command line, the same in both modes. Flags as Renode's own option parser defines
 * them (renode/renode src/Renode/Options.cs, found with the `search` tool):
 *   --disable-xwt   "Disable XWT GUI support. It automatically sets HideMonitor." (alias --disable-gui)
 *   --hide-log      "Do not show log messages in a console." The log goes to <volume>/renode.log
 *                   (`logFile` in the script) so the console carries only the UART.
 *   -P/--port N     "Instead of opening a window, listen for Monitor commands on the specified port."
 *   -e/--execute    "Execute command on startup (executed after the optional script)."
 * --console is left out on purpose: it runs the Monitor on stdin/stdout, which a detached
 * process or a container without a TTY does not have; the Monitor is on the port instead.
 */
export function renodeArgs(volume: string, monitorPort: number): string[] {
  return [
    '--disable-xwt',
    '--hide-log',
    '--port',
    String(monitorPort),
    '-e',
    `include @${volume}/${DEVICE_RESC}`,
  ];
}

/** What device.resc holds before the endpoint is known: the machine, loaded and paused. */
export function waitingResc(options: RescOptions): string {
  return [
    ...generatePrelude(options),
    '# Paused: the endpoint and credential blocks, then `start`, come through the monitor port.',
    '',
  ].join('\n');
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|0\.0\.0\.0)$/;

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `name` on PATH, or undefined. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && executable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/**
 * The renode runtime. Both modes run the same command line (renodeArgs) on the same script,
 * `<volume>/device.resc`: at `start` it is the prelude (machine created, platform and ELF
 * loaded, UART to uart.log, MAC and tap; paused). `writeMemory` replaces it with the whole
 * .resc (blocks, then `start`) and sends the block writes and `start` through the monitor,
 * so a Renode started again (worker restart, recovery, the container's restart policy)
 * boots with the blocks in RAM before its first instruction.
 */
export class RenodeRuntime implements DeviceRuntimeBackend {
  readonly kind = 'renode' as const;
  readonly image: string;

  constructor(private readonly options: RenodeRuntimeOptions) {
    this.image = options.image ?? DEFAULT_RENODE_IMAGE;
  }

  /** The renode binary this worker would run, or undefined when there is none. */
  localBinary(): string | undefined {
    if (this.options.binary) return executable(this.options.binary) ? this.options.binary : undefined;
    return onPath('renode');
  }

  /** The configured mode, or (auto) local when a renode binary is found, else docker. */
  get mode(): RenodeMode {
    return this.options.mode ?? (this.localBinary() ? 'local' : 'docker');
  }

  private missingBinary(): string {
    return this.options.binary
      ? `WASMBED_RENODE_BIN=${this.options.binary} is not an executable file`
      : 'no `renode` on PATH';
  }

  /**
   * Checks that Renode can run in the resolved mode (the binary, or the image on the engine,
   * pulled if missing); an EmulatorUnavailableError naming what is missing and how to fix it.
   */
  async ensureAvailable(mode: RenodeMode = this.mode): Promise<RenodeMode> {
    const fix =
      'install Renode (https://github.com/renode/renode/releases) and put `renode` on PATH or set WASMBED_RENODE_BIN, ' +
      `or run it from an image: WASMBED_RENODE_MODE=docker with ${this.image} on the engine (docker pull ${this.image}; WASMBED_RENODE_IMAGE names another)`;
    if (mode === 'local') {
      if (!this.localBinary())
        throw new EmulatorUnavailableError(`Renode is not available: ${this.missingBinary()}; ${fix}`);
      return mode;
    }
    const docker = this.options.docker;
    const binary =
      this.options.mode === 'docker' || this.localBinary() ? '' : `${this.missingBinary()}, and `;
    if (!docker)
      throw new EmulatorUnavailableError(
        `Renode is not available: ${binary}this worker has no Docker engine for image ${this.image}; ${fix}`,
      );
    try {
      await docker.ensureImagePresent(this.image);
    } catch (cause) {
      throw new EmulatorUnavailableError(
        `Renode is not available: ${binary}image ${this.image}: ${errorMessage(cause)}; ${fix}`,
        { cause },
      );
    }
    return mode;
  }

  private requireDocker(): DockerRuntime {
    if (!this.options.docker)
      throw new EmulatorUnavailableError('renode in docker mode needs a Docker engine (DOCKER_HOST)');
    return this.options.docker;
  }

  volumeOf(device: string): string {
    return paths.volume(this.options.home, device);
  }

  /** Records which mode a device was made in (beside its local volume directory). */
  private modeFile(device: string): string {
    return `${this.volumeOf(device)}.renode-mode`;
  }

  /**
   * The mode the device was made in, whatever the worker would pick today (installing Renode
   * after a device was made from the image must not make its container and volume invisible);
   * undefined for a device this runtime never prepared.
   */
  deviceMode(device: string): RenodeMode | undefined {
    try {
      const recorded = fs.readFileSync(this.modeFile(device), 'utf8').trim();
      return recorded === 'local' || recorded === 'docker' ? recorded : undefined;
    } catch {
      return undefined;
    }
  }

  private modeOf(device: string): RenodeMode {
    return this.deviceMode(device) ?? this.mode;
  }

  /** Where Renode sees the volume: the local directory, or the named volume's mount point. */
  private rescVolume(device: string): string {
    return this.modeOf(device) === 'docker' ? VOLUME_MOUNT : this.volumeOf(device);
  }

  /**
   * Checks that Renode can run first, so nothing is made for a device that could never start;
   * records the mode, then makes the volume.
   */
  async prepareVolume(device: string): Promise<string> {
    const mode = await this.ensureAvailable(this.modeOf(device));
    fs.mkdirSync(path.dirname(this.modeFile(device)), { recursive: true });
    writeAtomically(this.modeFile(device), mode, 0o644);
    if (mode === 'docker') return this.requireDocker().prepareVolume(device);
    return prepareVolume(this.volumeOf(device));
  }

  private firmwareSource(source?: string): string {
    const file = source ?? this.options.defaultFirmware;
    if (!file)
      throw new ValidationError(
        'firmware',
        "the renode runtime needs a Zephyr firmware ELF: set the device's firmware (or WASMBED_RENODE_FIRMWARE)",
      );
    readFirmwareSource(file, 'ELF'); // a clear error for a missing file or one that is not an ELF
    return file;
  }

  async copyFirmware(device: string, source?: string): Promise<{ sha256: string; bytes: number }> {
    const file = this.firmwareSource(source);
    if (this.modeOf(device) === 'docker')
      return this.requireDocker().copyFirmware(device, file, 'firmware.elf');
    return copyFirmwareVerified(
      device,
      readFirmwareSource(file, 'ELF'),
      path.join(this.volumeOf(device), 'firmware.elf'),
    );
  }

  /** Local Renode processes of the device (found by the script on their command line). */
  runningPids(device: string): number[] {
    return findProcesses([`include @${this.volumeOf(device)}/${DEVICE_RESC}`]);
  }

  /** Starts Renode on device.resc (the machine loaded and paused, or the whole script), or adopts the running one. */
  async start(device: string, mcuType: string): Promise<StartedEmulator> {
    renodeBoardFor(mcuType);
    const mode = this.modeOf(device);
    // Availability is checked where a Renode must be made: a running one is adopted regardless.
    const started =
      mode === 'docker' ? await this.startContainer(device, mcuType) : await this.startLocal(device, mcuType);
    if (!started.adopted) await this.awaitMonitor(device);
    return started;
  }

  /**
   * Renode is up once its monitor answers. One that exits first (bad binary, unusable script)
   * fails the step at once with the last lines it printed, not after the whole timeout.
   */
  private async awaitMonitor(device: string): Promise<void> {
    const deadline = Date.now() + (this.options.monitorTimeoutMs ?? 60_000);
    for (;;) {
      try {
        (await this.monitor(device, 1000)).close();
        return;
      } catch (err) {
        if (!(await this.isRunning(device))) {
          throw new WasmbedError(
            'EmulatorExited',
            `Renode of ${device} exited while starting: ${await this.lastOutput(device)}`,
            { cause: err },
          );
        }
        if (Date.now() > deadline)
          throw new WasmbedError(
            'EmulatorExited',
            `Renode of ${device} did not answer on its monitor port: ${errorMessage(err)}`,
            { cause: err },
          );
      }
    }
  }

  /** The last lines Renode printed (local: renode.out; docker: the container's output). */
  private async lastOutput(device: string): Promise<string> {
    let text: string;
    if (this.modeOf(device) === 'local') {
      const file = path.join(this.volumeOf(device), 'renode.out');
      text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    } else {
      text = (await this.requireDocker().volumeFile(device, 'renode.log'))?.toString('utf8') ?? '';
    }
    return text.trim().split('\n').slice(-3).join(' | ') || 'no output';
  }

  private async startLocal(device: string, mcuType: string): Promise<StartedEmulator> {
    const running = this.runningPids(device);
    if (running.length > 0) {
      this.followUart(device);
      return { id: String(running[0]), adopted: true };
    }
    await this.ensureAvailable('local');
    const volume = this.volumeOf(device);
    if (!fs.existsSync(path.join(volume, 'firmware.elf')))
      throw new FirmwareError('FirmwareMissing', `no firmware in the volume of ${device}; copy it first`);
    const resc = path.join(volume, DEVICE_RESC);
    if (!fs.existsSync(resc)) writeAtomically(resc, waitingResc({ device, mcuType, volume }), 0o600);
    fs.writeFileSync(path.join(volume, 'mcu-type'), mcuType);
    const port = await freePort();
    fs.writeFileSync(path.join(volume, 'monitor.port'), String(port));
    const binary = this.localBinary()!;
    const out = fs.openSync(path.join(volume, 'renode.out'), 'a');
    try {
      const child = spawn(binary, renodeArgs(volume, port), {
        cwd: volume,
        detached: true, // outlives a worker restart; adopted by its command line
        stdio: ['ignore', out, out],
      });
      child.unref();
      child.once('error', () => undefined);
      if (child.pid === undefined)
        throw new EmulatorUnavailableError(
          `could not run ${binary}; install Renode or set WASMBED_RENODE_BIN`,
        );
      this.followUart(device);
      return { id: String(child.pid), adopted: false };
    } finally {
      fs.closeSync(out);
    }
  }

  private async startContainer(device: string, mcuType: string): Promise<StartedEmulator> {
    const docker = this.requireDocker();
    return docker.startContainer(device, async () => {
      await this.ensureAvailable('docker');
      if (!(await docker.volumeFile(device, 'firmware.elf')))
        throw new FirmwareError('FirmwareMissing', `no firmware in volume of ${device}; copy it first`);
      if (!(await docker.volumeFile(device, DEVICE_RESC))) {
        await docker.putVolumeFiles(device, [
          {
            name: DEVICE_RESC,
            data: Buffer.from(waitingResc({ device, mcuType, volume: VOLUME_MOUNT })),
            mode: 0o600,
          },
        ]);
      }
      const port = await freePort();
      const uart = `${VOLUME_MOUNT}/uart.log`;
      const renode = renodeArgs(VOLUME_MOUNT, port)
        .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
        .join(' ');
      return {
        image: this.image,
        // The container's output is the device's UART (streamed to the device log like a
        // virtual device's): uart.log, which the script's CreateFileBackend writes, is
        // followed from the start of each boot; Renode's own log goes to renode.log.
        entrypoint: ['/bin/sh', '-c'],
        cmd: [`: > ${uart}; tail -n +1 -F ${uart} 2>/dev/null & exec renode ${renode}`],
        // Root in the container: creating the device's tap (`emulation CreateTap`) opens
        // /dev/net/tun and needs CAP_NET_ADMIN in effect, which a non-root user does not get.
        user: '0:0',
        env: [`WASMBED_MCU_TYPE=${mcuType}`],
        labels: { [MONITOR_PORT_LABEL]: String(port) },
        capAdd: ['NET_ADMIN'],
        devices: ['/dev/net/tun'],
        // Renode (a .NET application) needs far more than a virtual device.
        memoryBytes: (this.options.memoryMb ?? 1024) * 1024 * 1024,
      };
    });
  }

  /** A connection to the device's Renode monitor (local: 127.0.0.1; docker: the engine's host, host networking). */
  async monitor(device: string, timeoutMs = this.options.monitorTimeoutMs ?? 60_000): Promise<RenodeMonitor> {
    let port: number;
    let host = '127.0.0.1';
    if (this.modeOf(device) === 'docker') {
      const docker = this.requireDocker();
      const container = await docker.deviceContainer(device);
      port = Number(container?.Labels[MONITOR_PORT_LABEL]);
      host = docker.engineHost() ?? host;
    } else {
      const file = path.join(this.volumeOf(device), 'monitor.port');
      port = fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8')) : NaN;
    }
    if (!Number.isInteger(port) || port <= 0)
      throw new WasmbedError('EmulatorMissing', `device ${device} has no Renode running; start it first`);
    const monitor = await RenodeMonitor.connect(host, port, timeoutMs);
    try {
      await monitor.execute(`mach set "${device}"`); // the device's machine, whatever the monitor's context
      return monitor;
    } catch (err) {
      monitor.close();
      throw err;
    }
  }

  /** `paused` or `running`, as Renode's monitor reports the device's machine (`machine IsPaused`). */
  async machineState(device: string): Promise<'paused' | 'running'> {
    const monitor = await this.monitor(device);
    try {
      return await readState(monitor);
    } finally {
      monitor.close();
    }
  }

  private isRunning(device: string): Promise<boolean> {
    if (this.modeOf(device) === 'local') return Promise.resolve(this.runningPids(device).length > 0);
    return this.requireDocker()
      .deviceContainer(device)
      .then((c) => c?.State === 'running');
  }

  private async readResc(device: string): Promise<string | undefined> {
    if (this.modeOf(device) === 'docker')
      return (await this.requireDocker().volumeFile(device, DEVICE_RESC))?.toString('utf8');
    const file = path.join(this.volumeOf(device), DEVICE_RESC);
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  }

  private async writeResc(device: string, resc: string): Promise<void> {
    if (this.modeOf(device) === 'docker') {
      await this.requireDocker().putVolumeFiles(device, [
        { name: DEVICE_RESC, data: Buffer.from(resc), mode: 0o600 },
      ]);
    } else {
      writeAtomically(path.join(this.volumeOf(device), DEVICE_RESC), resc, 0o600);
    }
  }

  private async mcuTypeOf(device: string): Promise<string> {
    if (this.modeOf(device) === 'docker') {
      const container = await this.requireDocker().deviceContainer(device);
      const env = (
        await this.requireDocker()
          .docker.getContainer(container?.Id ?? '')
          .inspect()
      ).Config.Env;
      const value = env.find((e) => e.startsWith('WASMBED_MCU_TYPE='))?.split('=')[1];
      if (!value) throw new WasmbedError('EmulatorMissing', `device ${device} has no Renode container`);
      return value;
    }
    const file = path.join(this.volumeOf(device), 'mcu-type');
    if (!fs.existsSync(file)) throw new WasmbedError('EmulatorMissing', `device ${device} was never started`);
    return fs.readFileSync(file, 'utf8').trim();
  }

  /**
   * Writes the endpoint and credential blocks into the machine's RAM through the monitor,
   * then `start`; device.resc becomes the whole script first. A running machine (recovery,
   * certificate rotation) is paused and reset, so the firmware boots again and reads the new
   * blocks. Renode not running (recovery after it died): device.resc is rewritten and Renode
   * started on it, which writes the blocks before `start` by itself.
   */
  async writeMemory(device: string, endpoint: string, credentials: DeviceCredentials): Promise<void> {
    const { host, port } = parseEndpoint(endpoint);
    let dial = endpoint;
    if (LOOPBACK.test(host)) {
      if (!this.options.hostAddress) {
        throw new ValidationError(
          'endpoint',
          `gateway endpoint ${endpoint} is a loopback address a Renode device on a tap cannot reach; set WASMBED_RENODE_HOST_ADDRESS (the host's address on the taps) or WASMBED_GATEWAY_ENDPOINT`,
        );
      }
      dial = `${this.options.hostAddress}:${port}`;
    }
    const mcuType = await this.mcuTypeOf(device);
    const resc = generateResc({
      device,
      mcuType,
      volume: this.rescVolume(device),
      endpoint: dial,
      credentials,
    });
    if (!(await this.isRunning(device))) {
      await this.writeResc(device, resc);
      await this.start(device, mcuType);
      return;
    }
    const monitor = await this.monitor(device);
    try {
      const state = await readState(monitor);
      if (state === 'running' && (await this.readResc(device)) === resc) return; // already done
      await this.writeResc(device, resc);
      if (state === 'running') {
        await monitor.execute('pause');
        await monitor.execute('machine Reset');
      }
      for (const line of generateBlockWrites(dial, credentials)) {
        if (!line.startsWith('#')) await monitor.execute(line);
      }
      await monitor.execute('start');
    } finally {
      monitor.close();
    }
  }

  /** Stops the device's Renode: local, `quit` through the monitor, then signals; docker, the container removed. */
  async stop(device: string): Promise<number> {
    const mode = this.deviceMode(device);
    if (!mode) return 0; // never prepared (e.g. Renode was unavailable): nothing runs
    if (mode === 'docker') return this.requireDocker().stop(device);
    const pids = this.runningPids(device);
    if (pids.length === 0) return 0;
    try {
      const monitor = await this.monitor(device, 2000);
      monitor.quit();
    } catch {
      // not answering: the signals below stop it
    }
    await Promise.all(pids.map((pid) => terminate(pid)));
    this.options.uart?.unfollow(device);
    return pids.length;
  }

  /** After a worker restart: streams the UART of every local Renode an earlier worker started. */
  followRunning(): void {
    for (const device of volumeDevices(this.options.home)) {
      if (this.deviceMode(device) === 'local' && this.runningPids(device).length > 0) this.followUart(device);
    }
  }

  /** The script's CreateFileBackend writes the UART to uart.log in the volume. */
  private followUart(device: string): void {
    this.options.uart?.follow(device, path.join(this.volumeOf(device), 'uart.log'));
  }

  async removeVolume(device: string): Promise<void> {
    if (this.deviceMode(device) === 'docker') await this.requireDocker().removeVolume(device);
    fs.rmSync(this.volumeOf(device), { recursive: true, force: true });
    fs.rmSync(this.modeFile(device), { force: true });
  }
}

async function readState(monitor: RenodeMonitor): Promise<'paused' | 'running'> {
  const answer = (await monitor.execute('machine IsPaused')).trim();
  if (/^true$/i.test(answer)) return 'paused';
  if (/^false$/i.test(answer)) return 'running';
  throw new WasmbedError('MonitorCommandFailed', `unexpected answer to "machine IsPaused": ${answer}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Every Renode-emulated profile of common/mcu-profiles.ts. */
export const RENODE_MCU_TYPES = MCU_TYPES.filter((t) => MCU_PROFILES[t].emulator.kind === 'renode');
