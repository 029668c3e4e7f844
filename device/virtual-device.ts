/**
 * The virtual device: behaves like the firmware. It boots from the firmware image in its
 * volume, stays halted until the platform has written its memory blocks and released the
 * CPU, refuses to dial an endpoint block that does not validate, then holds a
 * mutual-TLS session to the gateway: DeviceInfo (Hello), heartbeats, reconnect with backoff,
 * and WebAssembly apps run sandboxed by the AppRuntime (they survive reconnects).
 */
import fs from 'node:fs';
import { errorMessage, WasmbedError } from '../common/errors.js';
import type { Slots } from '../common/slots.js';
import { MCU_PROFILES, isMcuType } from '../common/mcu-profiles.js';
import type { DeviceInfo, Message } from '../protocol/messages.js';
import { appBudgetOf } from './apps/fit.js';
import { AppRuntime, type AppThreadPool } from './apps/index.js';
import { AppFlash } from './app-flash.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { DeviceLink, type DeviceCredentialsPem } from './device-link.js';
import { readMemoryImage } from './memory-contract.js';

export interface VirtualFirmware {
  format: 'wasmbed-virtual-firmware';
  firmwareVersion: string;
  wasmFeatures: string[];
}

export interface VirtualDeviceOptions {
  name: string;
  mcuType: string;
  /** An emulated device's volume; a board that enrolled itself runs with connect() instead. */
  files?: { firmware: string; memory: string; cpuRun: string; booted: string; apps: string };
  backoff?: BackoffOptions;
  log?: (line: string) => void;
  /** Written into the volume's `booted` marker: who runs this device. Default: this process's pid. */
  bootId?: string;
  /**
   * How often to look at the volume for the CPU release and a rewritten endpoint block. A
   * device host that calls poke() when it writes them polls rarely, as a fallback only.
   */
  volumePollMs?: number;
  /** The app threads, shared with the other devices of a host (AppRuntime's pool). Default: the device's own. */
  appPool?: AppThreadPool;
  /**
   * Sessions being set up at once (dial, TLS handshake, the gateway's first answer), shared with
   * the other devices of a host. Unlimited when omitted.
   */
  dialSlots?: Slots;
}

export function readFirmware(file: string): VirtualFirmware {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new WasmbedError('FirmwareInvalid', `cannot read firmware image ${file}`, { cause });
  }
  const fw = parsed as Partial<VirtualFirmware>;
  if (fw.format !== 'wasmbed-virtual-firmware' || typeof fw.firmwareVersion !== 'string') {
    throw new WasmbedError('FirmwareInvalid', `${file} is not a wasmbed virtual firmware image`);
  }
  return { format: fw.format, firmwareVersion: fw.firmwareVersion, wasmFeatures: fw.wasmFeatures ?? [] };
}

/** A device that cannot reach its gateway starts the apps in its flash this long after its first dial anyway. */
const RESTORE_APPS_OFFLINE_AFTER_MS = 2000;

export class VirtualDevice {
  private readonly bootedAt = Date.now();
  private stopped = false;
  /** Pending waits that poke() (or stop()) ends early. */
  private readonly wakers = new Set<() => void>();
  private link?: DeviceLink;
  /** Its apps in flash are still to be started (run() sets it; the first session or a timer starts them). */
  private appsToRestore = false;
  private restoreTimer?: NodeJS.Timeout;
  /** Apps the platform deployed since boot: never replaced by the older copy in flash. */
  private readonly deployedSinceBoot = new Set<string>();
  /** Where deployed apps are kept across restarts (the volume's apps/); none for a board without a volume. */
  private readonly flash?: AppFlash;
  private readonly log: (line: string) => void;
  private readonly ramBytes: number;
  readonly apps: AppRuntime;

  constructor(private readonly options: VirtualDeviceOptions) {
    this.log = options.log ?? ((line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
    if (options.files) this.flash = new AppFlash(options.files.apps);
    this.ramBytes = isMcuType(options.mcuType) ? MCU_PROFILES[options.mcuType].ramBytes : 256 * 1024;
    this.apps = new AppRuntime({
      maxMemoryPages: appBudgetOf(options.mcuType).memoryPages,
      maxModuleBytes: appBudgetOf(options.mcuType).maxAppSize,
      bootTimeMs: this.bootedAt,
      onLog: (appId, level, message) => {
        this.log(`[app ${appId}] ${message}`);
        this.link?.send({ type: 'Log', appId, level, message, timestampMs: Date.now() });
      },
      onPublish: (appId, topic, data) => this.link?.send({ type: 'Publish', appId, topic, data }),
      onStateChange: (appId) => this.link?.send({ type: 'ApplicationStatus', apps: this.apps.status(appId) }),
      pool: options.appPool,
    });
  }

  /** Boots from the volume and keeps the device connected until stop() is called. */
  async run(): Promise<void> {
    const files = this.options.files;
    if (!files) throw new WasmbedError('NoVolume', 'run() needs the device volume (files); use connect()');
    const firmware = readFirmware(files.firmware);
    this.log(`boot: wasmbed virtual firmware ${firmware.firmwareVersion} on ${this.options.mcuType}`);
    fs.writeFileSync(files.booted, this.options.bootId ?? String(process.pid));
    await this.waitForCpuRelease(files.cpuRun);
    // Its apps start once it has dialled (or a moment after its first dial, offline): a restarted
    // host's hundreds of devices get their sessions back before their apps' worker threads take the CPU.
    this.appsToRestore = true;
    await this.connect(
      firmware,
      () => {
        try {
          return readMemoryImage(fs.readFileSync(files.memory));
        } catch (err) {
          this.log(`refusing to dial: ${errorMessage(err)}`);
          return undefined;
        }
      },
      (ms) => this.sleepUnlessMemoryChanges(files.memory, ms),
    );
  }

  /**
   * Keeps a session to the gateway `target()` names, with the credentials it gives, reconnecting
   * with backoff until stop(). The emulated device reads them from its memory image; a board
   * that enrolled itself from its state dir.
   */
  async connect(
    firmware: VirtualFirmware,
    target: () => { endpoint: string; credentials: DeviceCredentialsPem } | undefined,
    wait: (ms: number) => Promise<void> = (ms) => this.sleepUnlessStopped(ms),
  ): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      const where = target();
      if (!where) {
        this.armRestoreFallback(); // nothing to dial: its apps start all the same
        await this.nap(1000);
        continue;
      }
      const connected = await this.session(where.endpoint, where.credentials, firmware);
      if (this.stopped) break;
      attempt = connected ? 0 : attempt + 1;
      const delay = backoffDelay(attempt, this.options.backoff ?? { baseMs: 250, capMs: 30_000 });
      this.log(`reconnecting in ${delay} ms`);
      await wait(delay);
    }
  }

  /** Starts the apps in flash a moment from now if no session has started them by then. */
  private armRestoreFallback(): void {
    if (!this.appsToRestore || this.restoreTimer) return;
    this.restoreTimer = setTimeout(() => this.restoreAppsOnce(), RESTORE_APPS_OFFLINE_AFTER_MS);
    this.restoreTimer.unref();
  }

  /** Starts the apps kept in flash, once; their state reaches the gateway as it changes. */
  private restoreAppsOnce(): void {
    if (!this.appsToRestore) return;
    this.appsToRestore = false;
    clearTimeout(this.restoreTimer);
    for (const request of this.flash?.load() ?? []) {
      // Deployed by the platform since it booted: that one is newer than the copy in flash.
      if (this.deployedSinceBoot.has(request.appId)) continue;
      this.log(`restoring app ${request.appId} from flash`);
      void this.apps.deploy(request).then((result) => {
        if (!result.ok) this.log(`app ${request.appId} from flash did not start: ${result.error}`);
      });
    }
  }

  /** Tells the device its volume changed (CPU released, endpoint block rewritten): look now. */
  poke(): void {
    for (const wake of [...this.wakers]) wake();
  }

  /** Sleeps `ms`, or less if poke() or stop() comes first. */
  private nap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.wakers.add(done);
    });
  }

  private async sleepUnlessStopped(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.stopped && Date.now() < deadline) await this.nap(Math.min(200, deadline - Date.now()));
  }

  /**
   * Backoff that ends early when the platform rewrites the endpoint block (recovery moving
   * the device to another gateway), as a board would be reset after a new endpoint.
   */
  private async sleepUnlessMemoryChanges(memoryFile: string, ms: number): Promise<void> {
    const mtime = () => {
      try {
        return fs.statSync(memoryFile).mtimeMs;
      } catch {
        return 0;
      }
    };
    const before = mtime();
    const deadline = Date.now() + ms;
    const pollMs = this.options.volumePollMs ?? 200;
    while (!this.stopped && Date.now() < deadline) {
      await this.nap(Math.min(pollMs, deadline - Date.now()));
      if (mtime() !== before) {
        this.log('endpoint block rewritten; reconnecting now');
        return;
      }
    }
  }

  private async waitForCpuRelease(cpuRun: string): Promise<void> {
    const pollMs = this.options.volumePollMs ?? 50;
    while (!this.stopped && !fs.existsSync(cpuRun)) await this.nap(pollMs);
    this.log('cpu released');
  }

  /** One connection; resolves when it ends, with whether a session was established. */
  private async session(
    endpoint: string,
    credentials: DeviceCredentialsPem,
    firmware: VirtualFirmware,
  ): Promise<boolean> {
    // A host restarting hundreds of devices dials them a few dozen at a time: a gateway working
    // through 500 handshakes at once finished none within its 10 s handshake timeout, and every
    // device backed off and dialled again.
    const release = (await this.options.dialSlots?.acquire()) ?? (() => {});
    if (this.stopped) {
      release();
      return false;
    }
    this.armRestoreFallback();
    const link = new DeviceLink({
      endpoint,
      credentials,
      bootedAt: this.bootedAt,
      log: this.log,
      deviceInfo: () => this.deviceInfo(firmware),
      onRequest: (body) => this.handle(body, firmware),
      // Tell the gateway what already runs here (after a reconnect, apps kept running).
      onEstablished: (l) => {
        const apps = this.apps.status();
        if (apps.length > 0) l.send({ type: 'ApplicationStatus', apps });
        this.restoreAppsOnce();
      },
      onAnswered: release,
    });
    this.link = link;
    void link.closed.then(release);
    return link.closed;
  }

  private deviceInfo(firmware: VirtualFirmware): Omit<DeviceInfo, 'type'> {
    return {
      firmwareVersion: firmware.firmwareVersion,
      mcuType: this.options.mcuType,
      // RAM of the profile less what the running apps may use.
      freeMemory: Math.max(
        0,
        this.ramBytes - this.apps.status().filter((a) => a.state === 'Running').length * 65536,
      ),
      maxAppSize: appBudgetOf(this.options.mcuType).maxAppSize,
      wasmFeatures: firmware.wasmFeatures,
    };
  }

  private async handle(body: Message, firmware: VirtualFirmware): Promise<Message | undefined> {
    switch (body.type) {
      case 'DeployApplication': {
        const { type: _type, ...request } = body;
        this.deployedSinceBoot.add(body.appId);
        const result = await this.apps.deploy(request);
        if (result.ok) this.keep(() => this.flash?.save(request));
        this.log(`deploy ${body.appId} (${body.module.length} bytes): ${result.ok ? 'ok' : result.error}`);
        return { type: 'DeployAck', appId: body.appId, ok: result.ok, error: result.error };
      }
      case 'StopApplication': {
        const result = await this.apps.remove(body.appId);
        this.keep(() => this.flash?.remove(body.appId));
        return { type: 'StopAck', appId: body.appId, ok: result.ok, error: result.error };
      }
      case 'RequestApplicationStatus':
        return { type: 'ApplicationStatus', apps: this.apps.status(body.appId) };
      case 'RequestDeviceInfo':
        return { type: 'DeviceInfo', ...this.deviceInfo(firmware) };
      default:
        return undefined;
    }
  }

  /** Flash writes that fail (disk full) cost only the restore after a restart. */
  private keep(write: () => void): void {
    try {
      write();
    } catch (err) {
      this.log(`could not keep the app in flash: ${errorMessage(err)}`);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.appsToRestore = false;
    clearTimeout(this.restoreTimer);
    this.poke();
    this.link?.close();
    await this.apps.stopAll();
  }
}
