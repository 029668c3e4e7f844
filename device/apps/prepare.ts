/**
 * Turns an app's (checked, memory-capped) module into one the shared app threads can run
 * (transform-worker.mjs does the work: fuel checks for preemption, Asyncify for sleep_ms) and
 * compiles it. Both happen in one helper thread, never on the device's event loop: Binaryen
 * takes ~0.5 s to load and 50–300 ms per module, and a device host's loop carries a thousand
 * TLS sessions and their heartbeats. Each distinct module is prepared once per process (keyed
 * by its bytes, which include the memory cap): deploying one module to every device of a host
 * costs one transform, and the compiled WebAssembly.Module goes to the app threads as is.
 */
import crypto from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { errorMessage } from '../../common/errors.js';

const TRANSFORM_WORKER_URL = new URL('./transform-worker.mjs', import.meta.url);

/**
 * Function entries and loop iterations between two checks of an app's CPU budget (and of a
 * stop). A tight loop spends one per iteration at ~3–8 ns on this machine's cores (measured:
 * 1e6 fuel took 7.6 ms at load 11), so a check every 0.3–0.8 ms, each costing about a µs.
 */
export const FUEL_PER_CHECK = 100_000;

/** Prepared modules kept for the next deploy of the same bytes (a rollout, a redeploy). */
const CACHE_ENTRIES = 32;
/** The helper thread (and Binaryen's memory) goes away after this long without work. */
const IDLE_EXIT_MS = 30_000;

export type PrepareResult = { ok: true; module: WebAssembly.Module } | { ok: false; error: string };

interface Pending {
  resolve(result: PrepareResult): void;
}

let worker: Worker | null = null;
let idleTimer: NodeJS.Timeout | null = null;
let nextId = 0;
const pending = new Map<number, Pending>();
const cache = new Map<string, Promise<PrepareResult>>();

/** The module ready for the app threads, or why it cannot run (the engine's or Binaryen's reason). */
export function prepareModule(bytes: Uint8Array): Promise<PrepareResult> {
  const key = crypto.createHash('sha256').update(bytes).digest('hex');
  const hit = cache.get(key);
  if (hit) {
    // Most recently used last: the oldest entry is the first to go.
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const result = transform(bytes);
  cache.set(key, result);
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  // Failures are not kept: a module that failed for a passing reason (the helper died) may be retried.
  void result.then((r) => {
    if (!r.ok && cache.get(key) === result) cache.delete(key);
  });
  return result;
}

function transform(bytes: Uint8Array): Promise<PrepareResult> {
  const id = ++nextId;
  const w = helper();
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = null;
  return new Promise<PrepareResult>((resolve) => {
    pending.set(id, { resolve });
    w.postMessage({ id, bytes, fuel: FUEL_PER_CHECK });
  });
}

function helper(): Worker {
  if (worker) return worker;
  const w = new Worker(TRANSFORM_WORKER_URL, { execArgv: [], stdout: false, stderr: false });
  worker = w;
  w.unref();
  w.on('message', (msg: { id: number; module?: WebAssembly.Module; error?: string; invalid?: boolean }) => {
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.module) p?.resolve({ ok: true, module: msg.module });
    else if (msg.invalid) p?.resolve({ ok: false, error: `invalid WebAssembly module: ${msg.error}` });
    else {
      p?.resolve({ ok: false, error: `the module could not be prepared to run: ${msg.error}` });
      // Binaryen may be left in a bad state by a failure: the next module gets a fresh thread.
      retire(w, 'the module preparation thread was replaced after a failure');
    }
    if (worker === w && pending.size === 0) {
      idleTimer = setTimeout(() => retire(w, 'idle'), IDLE_EXIT_MS);
      idleTimer.unref();
    }
  });
  w.on('error', (err) => retire(w, `the module preparation thread failed: ${errorMessage(err)}`));
  w.on('exit', (code) => retire(w, `the module preparation thread exited (code ${code})`));
  return w;
}

/** Ends the helper thread; modules it was still preparing fail with the reason. */
function retire(w: Worker, reason: string): void {
  if (worker !== w) return;
  worker = null;
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = null;
  for (const [id, p] of pending) {
    pending.delete(id);
    p.resolve({ ok: false, error: `the module could not be prepared to run: ${reason}` });
  }
  void w.terminate();
}
