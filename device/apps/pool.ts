/**
 * The app threads of one process: a few worker threads (app-thread.mjs), each running many
 * apps of every device in the process, each app its own WebAssembly instance. Booting a worker
 * thread costs ~30–50 ms of CPU, so a thread per app made a rollout to 1,000 devices of a host
 * take a minute on two cores; a pool boots its threads once.
 *
 * Apps share a thread cooperatively (prepare.ts explains the transform that makes it safe):
 * sleep_ms yields the thread, a call past its CPU budget is stopped by its fuel checks, a trap
 * ends only its instance. Safety nets for what no app can cause on purpose: a thread that stays
 * in one call far beyond that call's budget (a runtime bug) is terminated and replaced, and a
 * thread that dies (its JS heap exhausted) fails only its own apps, with the reason.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { LogLevel } from '../../protocol/messages.js';
import { FUEL_PER_CHECK } from './prepare.js';

const THREAD_URL = new URL('./app-thread.mjs', import.meta.url);

/**
 * Threads per process: two per core. More threads than cores add no CPU, but the apps of a
 * thread wait for each other: an app that computes for its whole budget delays the apps of its
 * own thread only, so more threads keep one such app from stalling many. Each thread costs a
 * boot (~30–50 ms of CPU, once) and ~16–35 MiB (bench/app-threads.ts, 1,000 apps on 2 cores:
 * 1 thread 320 KiB PSS per app, 2: 354, 4: 431 with an 8 MB young generation, 363 with 2 MB, 8:
 * 563; all Running within 2–4 s whatever the count, and a runaway delays 1/threads of the apps).
 */
export const DEFAULT_APP_THREADS = Math.max(2, os.availableParallelism() * 2);
/** Old-generation JS heap of each app thread, in MB: host calls' strings and messages, not apps' linear memory. */
export const DEFAULT_APP_THREAD_HEAP_MB = 64;
/** Asyncify keeps a sleeping app's unwound stack in this many bytes at the start of its memory. */
export const ASYNCIFY_REGION_BYTES = 16 * 1024;
/** A thread in one call this long past the call's budget is stuck (a bug, since fuel stops apps). */
const STUCK_MARGIN_MS = 5_000;
const WATCHDOG_INTERVAL_MS = 1_000;
/** A thread without apps ends after this long. */
const IDLE_EXIT_MS = 5_000;

/** What an app thread tells about one app (app-thread.mjs). */
export type AppThreadMessage =
  | { type: 'log'; level: LogLevel; message: string }
  | { type: 'publish'; topic: string; data: Uint8Array }
  | { type: 'started' }
  | { type: 'exited' }
  | { type: 'failed'; error: string };

export interface AppLaunch {
  module: WebAssembly.Module;
  entry: string;
  env: Record<string, string>;
  args: string[];
  gpio: SharedArrayBuffer;
  sensors: SharedArrayBuffer;
  bootTimeMs: number;
  caps: Record<string, number>;
  budgetMs: number;
}

export interface AppHandlers {
  onMessage(msg: AppThreadMessage): void;
  /** The app's thread died or was replaced: the app is gone, for this reason. */
  onLost(reason: string): void;
}

/** One running app in the pool. */
export interface PooledApp {
  /** Ends the app (at its next fuel check if it is computing); resolves once it can no longer run. */
  stop(): Promise<void>;
}

interface Slot {
  handlers: AppHandlers;
  control: Int32Array;
  ended: boolean;
  stopped: Array<() => void>;
}

interface AppThread {
  worker: Worker;
  apps: Map<number, Slot>;
  busy: Float64Array;
  idleTimer: NodeJS.Timeout | null;
  gone: boolean;
}

export interface AppThreadPoolOptions {
  /** Most threads; default DEFAULT_APP_THREADS. */
  threads?: number;
  /** JS heap of each thread, in MB; default DEFAULT_APP_THREAD_HEAP_MB. */
  heapMb?: number;
}

export class AppThreadPool {
  private readonly threads: AppThread[] = [];
  private readonly size: number;
  private readonly heapMb: number;
  private nextId = 0;
  private watchdog: NodeJS.Timeout | null = null;

  constructor(opts: AppThreadPoolOptions = {}) {
    this.size = opts.threads ?? DEFAULT_APP_THREADS;
    if (!Number.isInteger(this.size) || this.size < 1) {
      throw new RangeError(`app threads must be a positive integer, got ${opts.threads}`);
    }
    this.heapMb = opts.heapMb ?? DEFAULT_APP_THREAD_HEAP_MB;
  }

  /** Live threads (at most the pool's size). */
  get threadCount(): number {
    return this.threads.length;
  }

  /** Apps running in the pool. */
  get appCount(): number {
    return this.threads.reduce((n, t) => n + t.apps.size, 0);
  }

  /** Starts an app on the least busy thread (a new one while the pool has room and every thread has apps). */
  launch(app: AppLaunch, handlers: AppHandlers): PooledApp {
    const thread = this.pick();
    const id = ++this.nextId;
    const controlBuffer = new SharedArrayBuffer(4);
    const slot: Slot = { handlers, control: new Int32Array(controlBuffer), ended: false, stopped: [] };
    thread.apps.set(id, slot);
    if (thread.idleTimer) clearTimeout(thread.idleTimer);
    thread.idleTimer = null;
    thread.worker.postMessage({ type: 'start', id, control: controlBuffer, ...app });
    return {
      stop: () => {
        if (slot.ended || thread.gone) return Promise.resolve();
        Atomics.store(slot.control, 0, 1);
        thread.worker.postMessage({ type: 'stop', id });
        return new Promise<void>((resolve) => slot.stopped.push(resolve));
      },
    };
  }

  private pick(): AppThread {
    let best: AppThread | undefined;
    for (const t of this.threads) if (!best || t.apps.size < best.apps.size) best = t;
    if (best && (best.apps.size === 0 || this.threads.length >= this.size)) return best;
    return this.spawn();
  }

  private spawn(): AppThread {
    const busyBuffer = new SharedArrayBuffer(16);
    const worker = new Worker(THREAD_URL, {
      workerData: { fuel: FUEL_PER_CHECK, asyncifyRegionBytes: ASYNCIFY_REGION_BYTES, busy: busyBuffer },
      execArgv: [],
      // A small young generation: it is per thread and mostly empty (16 MiB less per thread than 8 MB).
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: 2, stackSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    const thread: AppThread = {
      worker,
      apps: new Map(),
      busy: new Float64Array(busyBuffer),
      idleTimer: null,
      gone: false,
    };
    this.threads.push(thread);
    // Apps never keep the process alive on their own; devices stop them on shutdown.
    worker.unref();
    worker.on('message', (msg: (AppThreadMessage & { id: number }) | { id: number; type: 'dropped' }) =>
      this.onMessage(thread, msg),
    );
    worker.on('error', (err) => {
      const reason =
        (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `out of memory: the app thread's ${this.heapMb} MB JS heap was exhausted (it ran ${thread.apps.size} apps)`
          : `the app thread failed: ${err.message}`;
      this.lose(thread, reason);
    });
    worker.on('exit', (code) => this.lose(thread, `the app thread exited unexpectedly (code ${code})`));
    if (!this.watchdog) {
      this.watchdog = setInterval(() => this.checkStuck(), WATCHDOG_INTERVAL_MS);
      this.watchdog.unref();
    }
    return thread;
  }

  private onMessage(
    thread: AppThread,
    msg: (AppThreadMessage & { id: number }) | { id: number; type: 'dropped' },
  ): void {
    const slot = thread.apps.get(msg.id);
    if (!slot) return;
    if (msg.type === 'dropped' || msg.type === 'exited' || msg.type === 'failed')
      this.forget(thread, msg.id, slot);
    if (msg.type !== 'dropped') slot.handlers.onMessage(msg);
  }

  /** The app left its thread: its stop() resolves; an empty thread ends after a while. */
  private forget(thread: AppThread, id: number, slot: Slot): void {
    slot.ended = true;
    thread.apps.delete(id);
    for (const resolve of slot.stopped.splice(0)) resolve();
    if (thread.apps.size === 0 && !thread.gone) {
      thread.idleTimer = setTimeout(() => {
        if (thread.apps.size === 0) this.retire(thread);
      }, IDLE_EXIT_MS);
      thread.idleTimer.unref();
    }
  }

  /** The thread is gone (died, or replaced): each of its apps is lost with the reason. */
  private lose(thread: AppThread, reason: string): void {
    if (thread.gone) return;
    this.retire(thread);
    for (const [id, slot] of thread.apps) {
      thread.apps.delete(id);
      const stopping = slot.stopped.length > 0;
      slot.ended = true;
      for (const resolve of slot.stopped.splice(0)) resolve();
      if (!stopping) slot.handlers.onLost(reason);
    }
  }

  private retire(thread: AppThread): void {
    thread.gone = true;
    if (thread.idleTimer) clearTimeout(thread.idleTimer);
    const i = this.threads.indexOf(thread);
    if (i >= 0) this.threads.splice(i, 1);
    if (this.threads.length === 0 && this.watchdog) {
      clearInterval(this.watchdog);
      this.watchdog = null;
    }
    void thread.worker.terminate();
  }

  private checkStuck(): void {
    const now = performance.timeOrigin + performance.now();
    for (const thread of [...this.threads]) {
      const since = thread.busy[0] as number;
      const budget = thread.busy[1] as number;
      if (since > 0 && now - since > budget + STUCK_MARGIN_MS) {
        this.lose(
          thread,
          `the app thread stopped responding (one call ran ${Math.round(now - since)} ms, limit ${budget} ms); ` +
            `its apps were stopped`,
        );
      }
    }
  }
}
