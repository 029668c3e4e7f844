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
 * Renode cannot be installed on the machine this was written on: the .resc generation and the
 * monitor client are tested (golden files, a stand-in monitor); the process handling is not.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { paths } from '../common/config.js';
import { ValidationError, WasmbedError } from '../common/errors.js';
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
import { FirmwareError, copyFirmwareVerified, prepareVolume, readFirmwareSource } from './local-volume.js';

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

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------------

export interface RenodeRuntimeOptions {
  home: string;
  /** `local`: a renode binary on this machine; `docker`: the image through the docker runtime (not yet wired here). */
  mode?: 'local' | 'docker';
  binary?: string;
  image?: string;
  /** Firmware ELF when the device names none. */
  defaultFirmware?: string;
  /** The address devices on the taps dial for the host; a loopback gateway endpoint is rewritten to it. */
  hostAddress?: string;
}

export function renodeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<RenodeRuntimeOptions> {
  const mode = env.WASMBED_RENODE_MODE;
  if (mode && mode !== 'local' && mode !== 'docker') {
    throw new ValidationError('WASMBED_RENODE_MODE', `WASMBED_RENODE_MODE="${mode}" is not local or docker`);
  }
  return {
    mode: mode as RenodeRuntimeOptions['mode'],
    binary: env.WASMBED_RENODE_BIN || undefined,
    image: env.WASMBED_RENODE_IMAGE || undefined,
    defaultFirmware: env.WASMBED_RENODE_FIRMWARE || undefined,
    hostAddress: env.WASMBED_RENODE_HOST_ADDRESS || undefined,
  };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|0\.0\.0\.0)$/;

export class RenodeRuntime implements DeviceRuntimeBackend {
  readonly kind = 'renode' as const;
  readonly mode: 'local' | 'docker';
  readonly image: string;

  constructor(private readonly options: RenodeRuntimeOptions) {
    this.mode = options.mode ?? 'local';
    this.image = options.image ?? 'antmicro/renode';
  }

  volumeOf(device: string): string {
    return paths.volume(this.options.home, device);
  }

  prepareVolume(device: string): string {
    return prepareVolume(this.volumeOf(device));
  }

  copyFirmware(device: string, source?: string): { sha256: string; bytes: number } {
    const file = source ?? this.options.defaultFirmware;
    if (!file)
      throw new ValidationError(
        'firmware',
        "the renode runtime needs a Zephyr firmware ELF: set the device's firmware (or WASMBED_RENODE_FIRMWARE)",
      );
    return copyFirmwareVerified(
      device,
      readFirmwareSource(file, 'ELF'),
      path.join(this.volumeOf(device), 'firmware.elf'),
    );
  }

  private portFile(device: string): string {
    return path.join(this.volumeOf(device), 'monitor.port');
  }

  runningPids(device: string): number[] {
    return findProcesses([path.join(this.volumeOf(device), 'prelude.resc')]);
  }

  /** Starts Renode with the machine loaded and paused (the prelude), or adopts the running one. */
  async start(device: string, mcuType: string): Promise<StartedEmulator> {
    renodeBoardFor(mcuType);
    if (this.mode !== 'local') {
      throw new WasmbedError(
        'NotImplemented',
        'renode in docker mode is not wired to the docker runtime yet; use WASMBED_RENODE_MODE=local',
      );
    }
    const running = this.runningPids(device);
    if (running.length > 0) return { id: String(running[0]), adopted: true };
    const volume = this.volumeOf(device);
    if (!fs.existsSync(path.join(volume, 'firmware.elf')))
      throw new FirmwareError('FirmwareMissing', `no firmware in the volume of ${device}; copy it first`);
    const prelude = path.join(volume, 'prelude.resc');
    fs.writeFileSync(prelude, [...generatePrelude({ device, mcuType, volume }), ''].join('\n'));
    fs.writeFileSync(path.join(volume, 'mcu-type'), mcuType);
    const port = await freePort();
    fs.writeFileSync(this.portFile(device), String(port));
    const log = fs.openSync(path.join(volume, 'renode.log'), 'a');
    try {
      const child = spawn(
        this.options.binary ?? 'renode',
        ['--disable-gui', '--plain', '--port', String(port), prelude],
        {
          cwd: volume,
          detached: true,
          stdio: ['ignore', log, log],
        },
      );
      child.unref();
      child.once('error', () => undefined);
      if (child.pid === undefined)
        throw new WasmbedError(
          'EmulatorUnavailable',
          `could not run ${this.options.binary ?? 'renode'}; install Renode or set WASMBED_RENODE_BIN`,
        );
      return { id: String(child.pid), adopted: false };
    } finally {
      fs.closeSync(log);
    }
  }

  /** Sends the block writes, then `start`, through the monitor; writes the whole script to device.resc. */
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
    const volume = this.volumeOf(device);
    const mcuType = fs.readFileSync(path.join(volume, 'mcu-type'), 'utf8').trim();
    fs.writeFileSync(
      path.join(volume, 'device.resc'),
      generateResc({ device, mcuType, volume, endpoint: dial, credentials }),
      { mode: 0o600 },
    );
    const monitorPort = Number(fs.readFileSync(this.portFile(device), 'utf8'));
    const monitor = await RenodeMonitor.connect('127.0.0.1', monitorPort);
    try {
      const started = fs.existsSync(path.join(volume, 'cpu.run'));
      if (started) {
        await monitor.execute('pause');
        await monitor.execute('machine Reset');
      }
      for (const line of generateBlockWrites(dial, credentials)) {
        if (!line.startsWith('#')) await monitor.execute(line);
      }
      await monitor.execute('start');
      fs.writeFileSync(path.join(volume, 'cpu.run'), new Date().toISOString());
    } finally {
      monitor.close();
    }
  }

  async stop(device: string): Promise<number> {
    const pids = this.runningPids(device);
    await Promise.all(pids.map((pid) => terminate(pid)));
    return pids.length;
  }

  removeVolume(device: string): void {
    fs.rmSync(this.volumeOf(device), { recursive: true, force: true });
  }
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
