/**
 * The virtual device's app runtime: each deployed WebAssembly app runs in its own worker
 * thread (device/apps/app-worker.mjs) against the `wasmbed` host API (docs/host-api.md).
 *
 * Limits: a module is checked before it runs (validate.ts: imports, entry, memory against the
 * app's and the device's limit); its memory maximum is capped at the limit; the worker's JS
 * heap is bounded by `resourceLimits`; a call that runs longer than its CPU budget without
 * yielding (sleep_ms or returning) is stopped by terminating the worker. A trap, a limit or
 * a crash fails only that app: the device and its other apps keep running.
 */
import { Worker } from 'node:worker_threads';
import type { AppLimits, AppState, AppStatusEntry, LogLevel } from '../../protocol/messages.js';
import { DEFAULT_CPU_MS_PER_CALL, HOST_LIMITS, SENSOR_NO_READING } from './host-api.js';
import { capMemory, checkAppModule } from './validate.js';
import { errorMessage } from '../../common/errors.js';
import type { Slots } from '../../common/slots.js';

const WORKER_URL = new URL('./app-worker.mjs', import.meta.url);

// Shared control block layout (mirrors app-worker.mjs).
const CONTROL_BYTES = 32;
const STATE = 0;
const WAKE = 1;
const STOP = 2;
const RUNNING = 1;

export interface AppRuntimeOptions {
  /** The most linear memory one app may have on this device, in 64 KiB pages (see appMemoryPagesFor). */
  maxMemoryPages: number;
  /** CPU budget per call when a deployment's cpuMsPerCall is null. Default DEFAULT_CPU_MS_PER_CALL. */
  defaultCpuMsPerCall?: number;
  /** Largest module accepted, in bytes (the device's maxAppSize). Unlimited when omitted. */
  maxModuleBytes?: number;
  /** Unix time in ms the device booted: uptime_ms() counts from here. Default: construction time. */
  bootTimeMs?: number;
  /** Old-generation JS heap of each app's worker, in MB. Default 16. */
  workerHeapMb?: number;
  /** An app's log line (level 1 from `log`), or the runtime's about the app (2 dropped messages, 3 failure). */
  onLog?(appId: string, level: LogLevel, message: string): void;
  onPublish?(appId: string, topic: string, data: Uint8Array): void;
  /** Every state change: Deploying, Running, Exited, Failed (error = the reason), Stopped. */
  onStateChange?(appId: string, state: AppState, error: string | null): void;
  /**
   * Worker threads that may boot at once, shared by every device of a device host. Booting one
   * costs tens of ms of CPU; hundreds booting together (a fleet-wide rollout, a host restarting
   * its devices' apps) starved the host's event loop until the gateway dropped every session
   * for missed heartbeats. Unlimited when omitted (a device alone in its process).
   */
  startSlots?: Slots;
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
  worker: Worker | null;
  ctrl: Int32Array;
  times: Float64Array;
  budgetMs: number;
  timer: NodeJS.Timeout | null;
  /** Set once the runtime decided how this instance ends (stop, replace, failure). */
  ended: boolean;
  /** Resolves deploy() once the entry started, or failed to. */
  settleStart: ((result: AppOpResult) => void) | null;
  /** Gives back the start slot (startSlots) once the worker has booted or ended. */
  releaseStart: () => void;
}

const now = () => performance.timeOrigin + performance.now();
const processCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export class AppRuntime {
  private readonly apps = new Map<string, AppRecord>();
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly gpioBuffer = new SharedArrayBuffer(HOST_LIMITS.gpioPins * 2 * 4);
  private readonly gpioState = new Int32Array(this.gpioBuffer);
  private readonly sensorBuffer = new SharedArrayBuffer(HOST_LIMITS.sensorChannels * 2 * 4);
  private readonly sensorOverrides = new Int32Array(this.sensorBuffer);
  private readonly bootTimeMs: number;

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
    let module: WebAssembly.Module;
    try {
      const bytes =
        check.memoryMaxPages === null ? req.module : capMemory(req.module, check.info, check.memoryMaxPages);
      module = await WebAssembly.compile(bytes as BufferSource);
    } catch (err) {
      return {
        ok: false,
        error: `invalid WebAssembly module: ${errorMessage(err)}`,
      };
    }

    const old = this.apps.get(req.appId);
    if (old) await this.end(old);

    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const rec: AppRecord = {
      appId: req.appId,
      name: req.name ?? req.appId,
      state: 'Deploying',
      error: null,
      restarts: 0,
      worker: null,
      ctrl: new Int32Array(control, 0, 4),
      times: new Float64Array(control, 16, 2),
      budgetMs: req.limits.cpuMsPerCall ?? this.opts.defaultCpuMsPerCall ?? DEFAULT_CPU_MS_PER_CALL,
      timer: null,
      ended: false,
      settleStart: null,
      releaseStart: () => {},
    };
    this.apps.set(req.appId, rec);
    this.opts.onStateChange?.(rec.appId, 'Deploying', null);

    const started = new Promise<AppOpResult>((resolve) => (rec.settleStart = resolve));
    // Its turn to boot a worker (the record is in place: a stop meanwhile ends it, and it never boots).
    if (this.opts.startSlots) {
      rec.releaseStart = await this.opts.startSlots.acquire();
      if (rec.ended) {
        rec.releaseStart();
        return { ok: false, error: 'stopped before it started' };
      }
    }
    const heapMb = this.opts.workerHeapMb ?? 16;
    const worker = new Worker(WORKER_URL, {
      workerData: {
        module,
        entry: check.entry,
        env: { ...(req.env ?? {}) },
        args: [...(req.args ?? [])],
        control,
        gpio: this.gpioBuffer,
        sensors: this.sensorBuffer,
        bootTimeMs: this.bootTimeMs,
        caps: { ...HOST_LIMITS, sensorNoReading: SENSOR_NO_READING },
      },
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 4, stackSizeMb: 2 },
      stdout: false,
      stderr: false,
    });
    rec.worker = worker;
    // Apps never keep the device process alive on their own; call stopAll() on shutdown.
    worker.unref();
    worker.on('message', (msg: WorkerMessage) => this.onMessage(rec, msg));
    worker.on('error', (err) => {
      const reason =
        (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `out of memory: the app's worker exceeded its ${heapMb} MB heap`
          : `error: ${err.message}`;
      void this.fail(rec, reason);
    });
    worker.on('exit', (code) => {
      if (!rec.ended && rec.state !== 'Exited' && rec.state !== 'Failed') {
        void this.fail(rec, `the app's worker exited unexpectedly (code ${code})`);
      }
    });
    this.arm(rec, rec.budgetMs);
    return started;
  }

  private onMessage(rec: AppRecord, msg: WorkerMessage): void {
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
        this.disarm(rec);
        this.setState(rec, 'Exited', null);
        break;
      case 'failed':
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

  /** Stops the instance's worker (cutting a sleep short) and its watchdog; keeps the record. */
  private async end(rec: AppRecord): Promise<void> {
    if (rec.ended) return;
    rec.ended = true;
    rec.releaseStart();
    this.disarm(rec);
    Atomics.store(rec.ctrl, STOP, 1);
    Atomics.store(rec.ctrl, WAKE, 1);
    Atomics.notify(rec.ctrl, WAKE);
    const worker = rec.worker;
    rec.worker = null;
    if (worker) await worker.terminate();
  }

  private settle(rec: AppRecord, result: AppOpResult): void {
    rec.releaseStart();
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

  /**
   * The CPU watchdog: fires when the current call could have used up its budget. A call is
   * over budget when it ran that long without sleeping, by the wall clock and by the device
   * process's CPU time (so a device starved by its host is not blamed).
   */
  private arm(rec: AppRecord, delayMs: number): void {
    this.disarm(rec);
    rec.timer = setTimeout(() => this.check(rec), Math.max(1, Math.ceil(delayMs)));
    rec.timer.unref();
  }

  private disarm(rec: AppRecord): void {
    if (rec.timer) clearTimeout(rec.timer);
    rec.timer = null;
  }

  private check(rec: AppRecord): void {
    rec.timer = null;
    if (rec.ended) return;
    if (Atomics.load(rec.ctrl, STATE) !== RUNNING) {
      this.arm(rec, rec.budgetMs);
      return;
    }
    const wall = now() - (rec.times[0] as number);
    const cpu = processCpuMs() - (rec.times[1] as number);
    if (wall >= rec.budgetMs && cpu >= rec.budgetMs) {
      void this.fail(
        rec,
        `CPU limit exceeded: ran ${Math.round(wall)} ms without yielding (limit ${rec.budgetMs} ms per call)`,
      );
      return;
    }
    this.arm(rec, Math.max(5, rec.budgetMs - Math.min(wall, cpu)));
  }
}

type WorkerMessage =
  | { type: 'log'; level: LogLevel; message: string }
  | { type: 'publish'; topic: string; data: Uint8Array }
  | { type: 'started' }
  | { type: 'exited' }
  | { type: 'failed'; phase: 'instantiate' | 'run'; error: string };
