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
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { isHostOnlyAddress, paths } from '../../common/config.js';
import {
  EmulatorUnavailableError,
  ValidationError,
  WasmbedError,
  errorMessage,
} from '../../common/errors.js';
import { parseEndpoint, type DeviceCredentials } from '../../device/memory-contract.js';
import { findProcesses, terminate } from '../process-table.js';
import type { DeviceKey, DeviceRuntimeBackend, StartedEmulator } from '../runtime.js';
import { VOLUME_MOUNT } from '../docker/options.js';
import type { DockerRuntime } from '../docker/runtime.js';
import {
  FirmwareError,
  copyFirmwareVerified,
  ensureDeviceKey,
  prepareVolume,
  readFirmwareSource,
  volumeDevices,
  writeAtomically,
} from '../local-volume.js';
import { renodeBoardFor } from './boards.js';
import { RenodeMonitor, readState } from './monitor.js';
import {
  DEFAULT_RENODE_IMAGE,
  MONITOR_PORT_LABEL,
  type RenodeMode,
  type RenodeRuntimeOptions,
} from './options.js';
import { DEVICE_RESC, generateBlockWrites, generateResc, renodeArgs, waitingResc } from './resc.js';

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

  /** In the volume of the mode prepareVolume picks (the local directory, or the named volume). */
  async deviceKey(device: string): Promise<DeviceKey> {
    if (this.modeOf(device) === 'docker') return this.requireDocker().deviceKey(device);
    return ensureDeviceKey(this.volumeOf(device));
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
    if (isHostOnlyAddress(host)) {
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
    await this.options.uart?.unfollow(device);
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
