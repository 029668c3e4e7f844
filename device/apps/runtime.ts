/**
 * The virtual device's app runtime: each deployed WebAssembly app runs as its own instance in
 * the process's app thread pool (pool.ts, app-thread.mjs) against the `wasmbed` host API
 * (docs/host-api.md).
 *
 * Limits: a module is checked before it runs (validate.ts: imports, entry, memory against the
 * app's and the device's limit); its memory maximum is capped at the limit; it is prepared
 * (prepare.ts) so that a call running longer than its CPU budget without yielding (sleep_ms or
 * returning) is stopped by its own fuel checks, and sleep_ms yields the thread. A trap, a limit
 * or a crash fails only that app: the device and its other apps, and other devices' apps on
 * the same thread, keep running.
 */
import type { AppLimits, AppState, AppStatusEntry, LogLevel } from '../../protocol/messages.js';
import { DEFAULT_CPU_MS_PER_CALL, HOST_LIMITS, SENSOR_NO_READING } from './host-api.js';
import { capMemory, checkAppModule } from './validate.js';
import { AppThreadPool, type AppThreadMessage, type PooledApp } from './pool.js';
import { prepareModule } from './prepare.js';

export interface AppRuntimeOptions {
  /** The most linear memory one app may have on this device, in 64 KiB pages (see appMemoryPagesFor). */
  maxMemoryPages: number;
  /** CPU budget per call when a deployment's cpuMsPerCall is null. Default DEFAULT_CPU_MS_PER_CALL. */
  defaultCpuMsPerCall?: number;
  /** Largest module accepted, in bytes (the device's maxAppSize). Unlimited when omitted. */
  maxModuleBytes?: number;
  /** Unix time in ms the device booted: uptime_ms() counts from here. Default: construction time. */
  bootTimeMs?: number;
  /** An app's log line (level 1 from `log`), or the runtime's about the app (2 dropped messages, 3 failure). */
  onLog?(appId: string, level: LogLevel, message: string): void;
  onPublish?(appId: string, topic: string, data: Uint8Array): void;
  /** Every state change: Deploying, Running, Exited, Failed (error = the reason), Stopped. */
  onStateChange?(appId: string, state: AppState, error: string | null): void;
  /**
   * The app threads to run on, shared by every device of a device host. Default: a pool of
   * this runtime's own (a device alone in its process).
   */
  pool?: AppThreadPool;
}

export interface DeployRequest {
  appId: string;
  name?: string;
  module: Uint8Array;
  /** Export to run; '' or omitted means `_start`. */
  entry?: string;
  limits: AppLimits;
  env?: Record<string, string>;
  args?: string[];
}

/** Maps onto DeployAck / StopAck. */
export interface AppOpResult {
  ok: boolean;
  error: string | null;
}

interface AppRecord {
  appId: string;
  name: string;
  state: AppState;
  error: string | null;
  restarts: number;
  instance: PooledApp | null;
  /** Set once the runtime decided how this instance ends (stop, replace, failure). */
  ended: boolean;
  /** Resolves deploy() once the entry started, or failed to. */
  settleStart: ((result: AppOpResult) => void) | null;
}

export class AppRuntime {
  private readonly apps = new Map<string, AppRecord>();
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly gpioBuffer = new SharedArrayBuffer(HOST_LIMITS.gpioPins * 2 * 4);
  private readonly gpioState = new Int32Array(this.gpioBuffer);
  private readonly sensorBuffer = new SharedArrayBuffer(HOST_LIMITS.sensorChannels * 2 * 4);
  private readonly sensorOverrides = new Int32Array(this.sensorBuffer);
  private readonly bootTimeMs: number;
  private ownPool: AppThreadPool | null = null;

  constructor(private readonly opts: AppRuntimeOptions) {
    if (!Number.isInteger(opts.maxMemoryPages) || opts.maxMemoryPages < 0) {
      throw new RangeError(`maxMemoryPages must be a non-negative integer, got ${opts.maxMemoryPages}`);
    }
    this.bootTimeMs = opts.bootTimeMs ?? Date.now();
  }

  /**
   * Validates, instantiates and starts an app; resolves once its entry is running (ok) or the
   * module was rejected or failed to start (ok false, error says why). An invalid module leaves
   * a running app of the same appId untouched; a valid one replaces it.
   */
  deploy(req: DeployRequest): Promise<AppOpResult> {
    return this.serialize(req.appId, () => this.doDeploy(req));
  }

  /** Stops an app (its state becomes Stopped). Stopping an unknown app succeeds. */
  stop(appId: string): Promise<AppOpResult> {
    return this.serialize(appId, async () => {
      const rec = this.apps.get(appId);
      if (!rec) return { ok: true, error: null };
      await this.end(rec);
      this.setState(rec, 'Stopped', null);
      return { ok: true, error: null };
    });
  }

  /** Stops an app and forgets it: it no longer appears in status(). */
  remove(appId: string): Promise<AppOpResult> {
    return this.serialize(appId, async () => {
      const rec = this.apps.get(appId);
      if (rec) {
        await this.end(rec);
        this.apps.delete(appId);
      }
      return { ok: true, error: null };
    });
  }

  /** Stops every app (e.g. when the device shuts down). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.apps.keys()].map((appId) => this.stop(appId)));
  }

  /** One entry per app (or just `appId`'s; none if unknown), as ApplicationStatus carries them. */
  status(appId?: string | null): AppStatusEntry[] {
    const recs =
      appId == null ? [...this.apps.values()] : [this.apps.get(appId)].filter((r) => r !== undefined);
    return recs.map((r) => ({ appId: r.appId, state: r.state, error: r.error, restarts: r.restarts }));
  }

  /** The level (0/1) of a GPIO stand-in pin, shared by all apps on the device. */
  gpio(pin: number): number {
    return Atomics.load(this.gpioState, this.pin(pin));
  }

  /** How many times apps wrote the pin. */
  gpioWrites(pin: number): number {
    return Atomics.load(this.gpioState, HOST_LIMITS.gpioPins + this.pin(pin));
  }

  /** Fixes a sensor channel's reading (milli-units), or returns it to the synthetic signal with null. */
  setSensor(channel: number, milliUnits: number | null): void {
    if (!Number.isInteger(channel) || channel < 0 || channel >= HOST_LIMITS.sensorChannels) {
      throw new RangeError(`no sensor channel ${channel}`);
    }
    if (milliUnits !== null && (!Number.isInteger(milliUnits) || milliUnits === SENSOR_NO_READING)) {
      throw new RangeError(`sensor reading must be an i32 other than ${SENSOR_NO_READING}`);
    }
    Atomics.store(this.sensorOverrides, 2 * channel + 1, milliUnits ?? 0);
    Atomics.store(this.sensorOverrides, 2 * channel, milliUnits === null ? 0 : 1);
  }

  // -------------------------------------------------------------------------------------------

  private pin(pin: number): number {
    if (!Number.isInteger(pin) || pin < 0 || pin >= HOST_LIMITS.gpioPins)
      throw new RangeError(`no pin ${pin}`);
    return pin;
  }

  private serialize<T>(appId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(appId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.chains.set(appId, tail);
    void tail.then(() => {
      if (this.chains.get(appId) === tail) this.chains.delete(appId);
    });
    return next;
  }

  private async doDeploy(req: DeployRequest): Promise<AppOpResult> {
    const appLimit = req.limits.memoryPages;
    const deviceLimit = this.opts.maxMemoryPages;
    const memoryPages = Math.min(appLimit, deviceLimit);
    const check = checkAppModule(req.module, {
      entry: req.entry,
      memoryPages,
      maxModuleBytes: this.opts.maxModuleBytes,
    });
    if (!check.ok) {
      const note =
        deviceLimit < appLimit && /pages/.test(check.error)
          ? ` (this device allows ${deviceLimit} pages per app)`
          : '';
      return { ok: false, error: check.error + note };
    }
    const bytes =
      check.memoryMaxPages === null ? req.module : capMemory(req.module, check.info, check.memoryMaxPages);
    const prepared = await prepareModule(bytes);
    if (!prepared.ok) return { ok: false, error: prepared.error };

    const old = this.apps.get(req.appId);
    if (old) await this.end(old);

    const rec: AppRecord = {
      appId: req.appId,
      name: req.name ?? req.appId,
      state: 'Deploying',
      error: null,
      restarts: 0,
      instance: null,
      ended: false,
      settleStart: null,
    };
    this.apps.set(req.appId, rec);
    this.opts.onStateChange?.(rec.appId, 'Deploying', null);

    const started = new Promise<AppOpResult>((resolve) => (rec.settleStart = resolve));
    rec.instance = this.pool().launch(
      {
        module: prepared.module,
        entry: check.entry,
        env: { ...(req.env ?? {}) },
        args: [...(req.args ?? [])],
        gpio: this.gpioBuffer,
        sensors: this.sensorBuffer,
        bootTimeMs: this.bootTimeMs,
        caps: { ...HOST_LIMITS, sensorNoReading: SENSOR_NO_READING },
        budgetMs: req.limits.cpuMsPerCall ?? this.opts.defaultCpuMsPerCall ?? DEFAULT_CPU_MS_PER_CALL,
      },
      {
        onMessage: (msg) => this.onMessage(rec, msg),
        onLost: (reason) => void this.fail(rec, reason),
      },
    );
    return started;
  }

  private pool(): AppThreadPool {
    if (this.opts.pool) return this.opts.pool;
    this.ownPool ??= new AppThreadPool();
    return this.ownPool;
  }

  private onMessage(rec: AppRecord, msg: AppThreadMessage): void {
    if (rec.ended) return;
    switch (msg.type) {
      case 'log':
        this.opts.onLog?.(rec.appId, msg.level, msg.message);
        break;
      case 'publish':
        this.opts.onPublish?.(rec.appId, msg.topic, msg.data);
        break;
      case 'started':
        this.setState(rec, 'Running', null);
        this.settle(rec, { ok: true, error: null });
        break;
      case 'exited':
        rec.instance = null;
        this.setState(rec, 'Exited', null);
        break;
      case 'failed':
        rec.instance = null;
        void this.fail(rec, msg.error);
        break;
    }
  }

  /** Ends an instance with state Failed and the reason; only the first reason counts. */
  private async fail(rec: AppRecord, reason: string): Promise<void> {
    if (rec.ended || rec.state === 'Failed') return;
    const wasStarting = rec.state === 'Deploying';
    await this.end(rec);
    this.setState(rec, 'Failed', reason);
    this.opts.onLog?.(rec.appId, 3, `app failed: ${reason}`);
    this.settle(rec, { ok: false, error: wasStarting ? `app failed to start: ${reason}` : reason });
  }

  /** Stops the instance (cutting a sleep short, or a computation at its next fuel check); keeps the record. */
  private async end(rec: AppRecord): Promise<void> {
    if (rec.ended) return;
    rec.ended = true;
    const instance = rec.instance;
    rec.instance = null;
    if (instance) await instance.stop();
  }

  private settle(rec: AppRecord, result: AppOpResult): void {
    const settle = rec.settleStart;
    rec.settleStart = null;
    settle?.(result);
  }

  private setState(rec: AppRecord, state: AppState, error: string | null): void {
    if (rec.state === state && rec.error === error) return;
    rec.state = state;
    rec.error = error;
    if (this.apps.get(rec.appId) === rec) this.opts.onStateChange?.(rec.appId, state, error);
  }
}
