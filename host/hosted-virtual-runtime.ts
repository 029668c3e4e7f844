/**
 * Virtual devices run inside the device host's process: each a VirtualDevice on its own volume
 * (firmware image, memory image with the endpoint and credentials blocks, CPU held until
 * cpu.run, UART log), with its own key, mutual-TLS session, heartbeats and reconnect backoff.
 * Apps run in the host's app thread pool (device/apps), so a trapping, looping or memory-hungry
 * app ends only itself; a device whose session breaks reconnects alone. About 0.1 MiB per idle device
 * instead of a Node process each.
 */
import fs from 'node:fs';
import { errorMessage } from '../common/errors.js';
import { Slots } from '../common/slots.js';
import type { Logger } from '../common/logger.js';
import type { DeviceCredentials } from '../device/memory-contract.js';
import { AppThreadPool } from '../device/apps/index.js';
import { readFirmware, VirtualDevice } from '../device/virtual-device.js';
import { volumeFiles } from '../device/volume-layout.js';
import { FirmwareError, volumeDevices } from '../runtimes/local-volume.js';
import type { DeviceRuntimeBackend, StartedEmulator } from '../runtimes/runtime.js';
import { VirtualVolumes } from '../runtimes/virtual.js';
import { RotatingLogFile } from '../common/rotating-log-file.js';

/**
 * The host pokes a device when it writes its volume, so devices look at their volume files
 * only this often on their own (a fallback), not 20 times a second each.
 */
const VOLUME_POLL_MS = 5000;

/**
 * Sessions the host's devices set up at once. All at once, a handshake's latency is the whole
 * burst's: 500 devices resumed after kill -9 all outlived the gateway's 10 s handshake timeout
 * and backed off; a few dozen at a time keep each one short and the gateway as busy.
 */
const DIALS_AT_ONCE = 64;

interface HostedDevice {
  device: VirtualDevice;
  bootId: string;
  uart: RotatingLogFile;
  stopped: Promise<void>;
}

export interface HostedDeviceInfo {
  name: string;
  bootId: string;
}

export class HostedVirtualRuntime extends VirtualVolumes implements DeviceRuntimeBackend {
  private readonly devices = new Map<string, HostedDevice>();
  private boots = 0;
  /** One app thread pool for every device of the host: threads boot once, not once per app. */
  private readonly appPool = new AppThreadPool();
  private readonly dials = new Slots(DIALS_AT_ONCE);

  constructor(
    home: string,
    private readonly hostId: string,
    private readonly logger: Logger,
    /** Each device's UART log keeps at most this much, and as much again in uart.log.1. */
    private readonly uartLogMaxBytes: number,
  ) {
    super(home);
  }

  running(): HostedDeviceInfo[] {
    return [...this.devices].map(([name, d]) => ({ name, bootId: d.bootId }));
  }

  /** Boots the device halted (it waits for cpu.run), or adopts the one running here. */
  start(device: string, mcuType: string): StartedEmulator {
    const current = this.devices.get(device);
    if (current) return { id: current.bootId, adopted: true };
    const files = volumeFiles(this.volumeOf(device));
    if (!fs.existsSync(files.firmware)) {
      throw new FirmwareError('FirmwareMissing', `no firmware in the volume of ${device}; copy it first`);
    }
    // A firmware image that cannot boot fails the start now, with the reason.
    readFirmware(files.firmware);
    this.markOwner(device, { host: this.hostId, mcuType });
    const bootId = `${process.pid}:${++this.boots}`;
    const uart = new RotatingLogFile(files.uart, this.uartLogMaxBytes, (err) =>
      this.logger.warn('UART log write failed', { device, error: err.message }),
    );
    const vd = new VirtualDevice({
      name: device,
      mcuType,
      files,
      bootId,
      volumePollMs: VOLUME_POLL_MS,
      appPool: this.appPool,
      dialSlots: this.dials,
      log: (line) => uart.write(`${new Date().toISOString()} ${line}\n`),
    });
    // run() checks the firmware and writes the boot marker before its first await.
    const stopped = vd.run().then(
      () => undefined,
      (err: unknown) => {
        uart.write(`${new Date().toISOString()} device halted: ${errorMessage(err)}\n`);
        this.logger.warn('device halted', { device, error: errorMessage(err) });
      },
    );
    const hosted: HostedDevice = { device: vd, bootId, uart, stopped };
    this.devices.set(device, hosted);
    void stopped.then(() => this.forget(device, hosted));
    return { id: bootId, adopted: false };
  }

  override writeMemory(device: string, endpoint: string, credentials: DeviceCredentials): void {
    super.writeMemory(device, endpoint, credentials);
    this.devices.get(device)?.device.poke();
  }

  /** Stops the device for good: it is no longer resumed when the host restarts. */
  async stop(device: string): Promise<number> {
    this.clearOwner(device);
    return (await this.halt(device)) ? 1 : 0;
  }

  /**
   * Cuts the device's power: it stops at once, but stays this host's, so the lifecycle's
   * recovery (or the next host start) boots it again. For tests and chaos drills.
   */
  async powerOff(device: string): Promise<boolean> {
    return this.halt(device);
  }

  override async removeVolume(device: string): Promise<void> {
    await this.stop(device);
    await super.removeVolume(device);
  }

  /**
   * Boots every device this host owned when it went down (it was killed or restarted) and
   * `mayRun` still allows; the others are no longer this host's, and their volumes go. A device
   * moved while this host was away runs on its new host from a new volume with a new key (the
   * old certificate revoked); one deleted meanwhile could not be stopped here. Only clearing the
   * owner marker left every such volume — private key, memory image, apps — on this machine's
   * disk for good: a machine that came back after its 88 devices moved kept 88 dead volumes.
   */
  async resumeOwned(mayRun: (device: string) => boolean): Promise<number> {
    let resumed = 0;
    for (const { device, owner } of this.ownedBy(this.hostId)) {
      try {
        if (!mayRun(device)) {
          await this.removeVolume(device);
          this.logger.info('removed the volume of a device placed elsewhere or deleted', { device });
          continue;
        }
        if (!this.start(device, owner.mcuType).adopted) resumed++;
      } catch (err) {
        this.logger.warn('could not resume device', { device, error: errorMessage(err) });
      }
    }
    return resumed;
  }

  /**
   * Removes the volumes without an owner marker whose device `mayRun` does not place here: a
   * provisioning run moved to another host before it started the device here (this host was
   * killed during its steps), or a volume an earlier version left behind (it cleared only the
   * marker). Nothing else removes them. Any runtime's volume: the host calls this once its
   * containers and emulators of devices placed elsewhere are stopped (host/main.ts). A volume
   * whose marker names another host is that host's business.
   */
  async removeStrayVolumes(mayRun: (device: string) => Promise<boolean>): Promise<number> {
    let removed = 0;
    for (const device of volumeDevices(this.home)) {
      if (fs.existsSync(volumeFiles(this.volumeOf(device)).owner) || (await mayRun(device))) continue;
      try {
        await this.removeVolume(device);
        removed++;
        this.logger.info('removed the volume of a device placed elsewhere or deleted', { device });
      } catch (err) {
        this.logger.warn('could not remove a stray volume', { device, error: errorMessage(err) });
      }
    }
    return removed;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.devices.keys()].map((device) => this.halt(device)));
  }

  private async halt(device: string): Promise<boolean> {
    const hosted = this.devices.get(device);
    if (!hosted) return false;
    const uartClosed = this.forget(device, hosted);
    await hosted.device.stop();
    await hosted.stopped;
    await uartClosed; // (a host shutting down exits only once its devices' last lines are written)
    return true;
  }

  /** Resolves once the device's UART log is closed. */
  private forget(device: string, hosted: HostedDevice): Promise<void> {
    if (this.devices.get(device) !== hosted) return Promise.resolve();
    this.devices.delete(device);
    const uartClosed = hosted.uart.end();
    // The boot marker names a running device only: gone with it.
    const booted = volumeFiles(this.volumeOf(device)).booted;
    try {
      if (fs.readFileSync(booted, 'utf8') === hosted.bootId) fs.rmSync(booted, { force: true });
    } catch {
      // the volume is gone already
    }
    return uartClosed;
  }
}
