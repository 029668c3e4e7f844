/**
 * The virtual device's app runtime (device/apps): real WebAssembly in real app threads (many apps each),
 * running the example apps built from source (scripts/build-apps.mjs) and a few modules
 * assembled here byte by byte for the cases the examples cannot show.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AppState, LogLevel } from '../protocol/messages.js';
import { appMemoryPagesFor, HOST_FUNCTIONS, HOST_LIMITS, type ValType } from '../device/apps/host-api.js';
import { AppRuntime, type AppRuntimeOptions, type DeployRequest } from '../device/apps/runtime.js';
import { AppThreadPool, ASYNCIFY_REGION_BYTES } from '../device/apps/pool.js';
import { checkAppModule } from '../device/apps/validate.js';
import { buildApps } from '../scripts/build-apps.mjs';
import { waitFor } from './support/wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'examples', 'apps', 'dist');
const APPS = ['hello', 'blinky', 'sensor', 'faulty'] as const;
const wasm: Record<string, Uint8Array> = {};

beforeAll(async () => {
  // Idempotent: compiles only what is missing or older than its sources. The C app is built by
  // its own test, so that a missing clang fails that test with the build's message.
  await buildApps({ only: [...APPS], log: () => {} });
  for (const app of APPS) wasm[app] = new Uint8Array(fs.readFileSync(path.join(DIST, `${app}.wasm`)));
}, 120_000);

// ---------------------------------------------------------------------------------------------
// A tiny WebAssembly assembler for hand-made modules
// ---------------------------------------------------------------------------------------------

const VT: Record<ValType, number> = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
  funcref: 0x70,
  externref: 0x6f,
};
const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
};
const name = (s: string) => [...uleb(Buffer.byteLength(s)), ...Buffer.from(s)];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];

/** Instruction helpers. */
const op = {
  i32: (n: number) => [0x41, ...sleb(n)],
  call: (fn: number) => [0x10, ...uleb(fn)],
  localGet: (i: number) => [0x20, ...uleb(i)],
  localTee: (i: number) => [0x22, ...uleb(i)],
  memoryGrow: [0x40, 0x00],
  unreachable: [0x00],
};

interface ModuleSpec {
  imports?: Array<{ module: string; name: string; params: ValType[]; results?: ValType[] }>;
  funcs?: Array<{
    name?: string;
    params?: ValType[];
    results?: ValType[];
    locals?: ValType[];
    code: number[];
  }>;
  memory?: { min: number; max?: number; exportAs?: string | null };
}

/** Assembles a module: imports first, then funcs (exported under `name`), optional memory. */
function assemble(spec: ModuleSpec): Uint8Array {
  const types: number[][] = [];
  const typeIndex = (params: ValType[], results: ValType[] = []) => {
    const t = [0x60, ...vec(params.map((p) => [VT[p]])), ...vec(results.map((r) => [VT[r]]))];
    const key = t.join(',');
    const i = types.findIndex((x) => x.join(',') === key);
    return i >= 0 ? i : types.push(t) - 1;
  };
  const imports = (spec.imports ?? []).map((im) => [
    ...name(im.module),
    ...name(im.name),
    0x00,
    ...uleb(typeIndex(im.params, im.results)),
  ]);
  const funcs = spec.funcs ?? [];
  const funcTypes = funcs.map((f) => uleb(typeIndex(f.params ?? [], f.results)));
  const exports: number[][] = [];
  funcs.forEach((f, i) => {
    if (f.name) exports.push([...name(f.name), 0x00, ...uleb(imports.length + i)]);
  });
  const mem = spec.memory;
  if (mem && mem.exportAs !== null) exports.push([...name(mem.exportAs ?? 'memory'), 0x02, 0x00]);
  const bodies = funcs.map((f) => {
    const locals = vec((f.locals ?? []).map((l) => [1, VT[l]]));
    const body = [...locals, ...f.code, 0x0b];
    return [...uleb(body.length), ...body];
  });
  const limits = mem
    ? mem.max === undefined
      ? [0x00, ...uleb(mem.min)]
      : [0x01, ...uleb(mem.min), ...uleb(mem.max)]
    : [];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...(imports.length ? section(2, vec(imports)) : []),
    ...section(3, vec(funcTypes)),
    ...(mem ? section(5, vec([limits])) : []),
    ...section(7, vec(exports)),
    ...section(10, vec(bodies)),
  ]);
}

const LOG = { module: 'wasmbed', name: 'log', params: ['i32', 'i32'] as ValType[] };
const SLEEP = { module: 'wasmbed', name: 'sleep_ms', params: ['i32'] as ValType[] };
const EMPTY_START = { name: '_start', code: [] };

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

interface Recorded {
  rt: AppRuntime;
  logs: Array<{ appId: string; level: LogLevel; message: string }>;
  publishes: Array<{ appId: string; topic: string; data: string }>;
  states: Array<{ appId: string; state: AppState; error: string | null; at: number }>;
  state(appId: string): AppState | undefined;
}

let runtimes: AppRuntime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.map((rt) => rt.stopAll()));
  runtimes = [];
});

function runtime(opts: Partial<AppRuntimeOptions> = {}): Recorded {
  const rec: Omit<Recorded, 'rt'> = {
    logs: [],
    publishes: [],
    states: [],
    state: (appId) => rt.status(appId)[0]?.state,
  };
  const rt = new AppRuntime({
    maxMemoryPages: appMemoryPagesFor(320 * 1024), // Stm32F746gDisco: 2 pages
    onLog: (appId, level, message) => rec.logs.push({ appId, level, message }),
    onPublish: (appId, topic, data) =>
      rec.publishes.push({ appId, topic, data: Buffer.from(data).toString('utf8') }),
    onStateChange: (appId, state, error) => rec.states.push({ appId, state, error, at: Date.now() }),
    ...opts,
  });
  runtimes.push(rt);
  return Object.assign(rec, { rt });
}

function req(appId: string, module: Uint8Array, more: Partial<DeployRequest> = {}): DeployRequest {
  return {
    appId,
    name: appId,
    module,
    entry: '_start',
    limits: { memoryPages: 2, cpuMsPerCall: null },
    ...more,
  };
}

const waitState = (r: Recorded, appId: string, state: AppState, timeoutMs = 10_000) =>
  waitFor(`${appId} to be ${state}`, () => r.state(appId) === state, timeoutMs, 10);

// ---------------------------------------------------------------------------------------------

describe('example apps', () => {
  it('hello logs its greeting and arguments, then exits', async () => {
    const r = runtime();
    const ack = await r.rt.deploy(req('hello-1', wasm.hello!, { args: ['one', 'двa'] }));
    expect(ack).toEqual({ ok: true, error: null });
    await waitState(r, 'hello-1', 'Exited');
    expect(r.logs.filter((l) => l.appId === 'hello-1')).toEqual([
      { appId: 'hello-1', level: 1, message: 'Hello, wasmbed!' },
      { appId: 'hello-1', level: 1, message: 'arg 0: one' },
      { appId: 'hello-1', level: 1, message: 'arg 1: двa' },
    ]);
    expect(r.states.map((s) => s.state)).toEqual(['Deploying', 'Running', 'Exited']);
    expect(r.rt.status()).toEqual([{ appId: 'hello-1', state: 'Exited', error: null, restarts: 0 }]);

    await r.rt.deploy(req('hello-2', wasm.hello!, { env: { GREETING: 'hi from env' } }));
    await waitState(r, 'hello-2', 'Exited');
    expect(r.logs.find((l) => l.appId === 'hello-2')?.message).toBe('hi from env');
  });

  it('blinky toggles its pin, is Running while it sleeps, and Stop stops it', async () => {
    // A CPU budget far below the run time: time spent in sleep_ms does not count.
    const r = runtime();
    const ack = await r.rt.deploy(
      req('blinky', wasm.blinky!, {
        env: { PIN: '5', PERIOD_MS: '60' },
        limits: { memoryPages: 2, cpuMsPerCall: 50 },
      }),
    );
    expect(ack.ok).toBe(true);
    const levels = new Set<number>();
    await waitFor(
      'blinky to toggle pin 5 a few times',
      () => (levels.add(r.rt.gpio(5)), r.rt.gpioWrites(5) >= 6 && levels.size === 2),
      5_000,
      5,
    );
    await new Promise((resolve) => setTimeout(resolve, 200)); // well past the 50 ms budget
    expect(r.state('blinky')).toBe('Running');
    expect(r.logs[0]).toMatchObject({ appId: 'blinky', message: 'blinky: pin 5, 30 ms per level' });

    expect(await r.rt.stop('blinky')).toEqual({ ok: true, error: null });
    expect(r.rt.status('blinky')).toEqual([{ appId: 'blinky', state: 'Stopped', error: null, restarts: 0 }]);
    const writes = r.rt.gpioWrites(5);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(r.rt.gpioWrites(5)).toBe(writes);
    // Stopping again, or an app that never existed, is a success.
    expect(await r.rt.stop('blinky')).toEqual({ ok: true, error: null });
    expect(await r.rt.stop('nope')).toEqual({ ok: true, error: null });
  });

  it('sensor publishes readings', async () => {
    const r = runtime();
    r.rt.setSensor(0, 23_456);
    await r.rt.deploy(req('sensor', wasm.sensor!, { env: { INTERVAL_MS: '20', COUNT: '3' } }));
    await waitState(r, 'sensor', 'Exited');
    expect(r.publishes).toHaveLength(3);
    for (const p of r.publishes) {
      expect(p).toMatchObject({ appId: 'sensor', topic: 'sensors/0' });
      expect(JSON.parse(p.data)).toMatchObject({ channel: 0, milli: 23_456, uptimeMs: expect.any(Number) });
    }
    // The synthetic signal, and a channel the board does not have.
    r.rt.setSensor(0, null);
    await r.rt.deploy(
      req('sensor-2', wasm.sensor!, { env: { CHANNEL: '1', COUNT: '1', TOPIC: 'hum', INTERVAL_MS: '1' } }),
    );
    await r.rt.deploy(req('sensor-9', wasm.sensor!, { env: { CHANNEL: '9', COUNT: '1', INTERVAL_MS: '1' } }));
    await waitState(r, 'sensor-2', 'Exited');
    await waitState(r, 'sensor-9', 'Exited');
    const humidity = JSON.parse(r.publishes.find((p) => p.appId === 'sensor-2')!.data);
    expect(humidity.milli).toBeGreaterThan(30_000);
    expect(humidity.milli).toBeLessThan(60_000);
    expect(JSON.parse(r.publishes.find((p) => p.appId === 'sensor-9')!.data).milli).toBeNull();
  });
});

describe('a C app (clang --target=wasm32, no libc)', () => {
  it('counter-c logs each count and toggles its pin through the same host API', async () => {
    // Throws "counter-c: not built: C apps need clang …" when the C toolchain is missing.
    const [built] = await buildApps({ only: ['counter-c'], log: () => {} });
    const module = new Uint8Array(fs.readFileSync(built!.file));
    // One page is enough: it fits the smallest board (Stm32F4Disco, 1 page per app).
    expect(checkAppModule(module, { entry: '_start', memoryPages: 1 })).toMatchObject({
      ok: true,
      memoryMaxPages: 1,
    });
    const r = runtime();
    const ack = await r.rt.deploy(
      req('counter', module, {
        env: { PIN: '7', PERIOD_MS: '10', COUNT: '4' },
        limits: { memoryPages: 1, cpuMsPerCall: 50 },
      }),
    );
    expect(ack).toEqual({ ok: true, error: null });
    await waitState(r, 'counter', 'Exited');
    expect(r.logs.map((l) => l.message)).toEqual([
      'counter-c: started',
      'counter-c: 1 (pin high)',
      'counter-c: 2 (pin low)',
      'counter-c: 3 (pin high)',
      'counter-c: 4 (pin low)',
      'counter-c: done',
    ]);
    expect(r.rt.gpioWrites(7)).toBe(4);
    expect(r.rt.gpio(7)).toBe(0);

    // STARTUP_MS is spent in _initialize: the app is Deploying (not yet acknowledged) meanwhile.
    await r.rt.deploy(req('slow', module, { env: { STARTUP_MS: '200', COUNT: '1', PERIOD_MS: '1' } }));
    const slow = r.states.filter((x) => x.appId === 'slow');
    expect(slow.map((x) => x.state).slice(0, 2)).toEqual(['Deploying', 'Running']);
    expect(slow[1]!.at - slow[0]!.at).toBeGreaterThanOrEqual(190);
  });
});

describe('faults stop only the faulty app', () => {
  it('a trap fails the app with the trap reason while another app keeps running', async () => {
    const r = runtime();
    await r.rt.deploy(req('blinky', wasm.blinky!, { env: { PIN: '1', PERIOD_MS: '40' } }));
    const ack = await r.rt.deploy(req('faulty', wasm.faulty!, { entry: 'trap' }));
    expect(ack.ok).toBe(true); // it started; the trap comes after
    await waitState(r, 'faulty', 'Failed');
    const [status] = r.rt.status('faulty');
    expect(status?.error).toMatch(
      /^trap: unreachable \(in faulty\/main\/trap, wasm-function\[\d+\] at 0x[0-9a-f]+\)$/,
    );
    expect(r.logs.filter((l) => l.appId === 'faulty').map((l) => [l.level, l.message])).toEqual([
      [1, 'faulty: about to trap'],
      [3, `app failed: ${status?.error}`],
    ]);
    const writes = r.rt.gpioWrites(1);
    await waitFor('blinky to keep toggling', () => r.rt.gpioWrites(1) >= writes + 3, 5_000, 10);
    expect(r.state('blinky')).toBe('Running');

    // A bad pointer handed to the host traps the app too, naming the host function.
    await r.rt.deploy(req('bad', wasm.faulty!, { entry: 'bad_pointer' }));
    await waitState(r, 'bad', 'Failed');
    expect(r.rt.status('bad')[0]?.error).toMatch(
      /^trap: log: bytes \[2147418112, 2147418128\) are outside linear memory \(65536 bytes\) \(in faulty\/main\/bad_pointer/,
    );
    expect(r.state('blinky')).toBe('Running');
  });

  it('a runaway loop fails with a CPU-limit reason within its budget; the device keeps running', async () => {
    const r = runtime();
    await r.rt.deploy(req('blinky', wasm.blinky!, { env: { PIN: '2', PERIOD_MS: '40' } }));
    const budget = 200;
    const ack = await r.rt.deploy(
      req('spin', wasm.faulty!, { entry: 'spin', limits: { memoryPages: 2, cpuMsPerCall: budget } }),
    );
    expect(ack.ok).toBe(true);
    const running = r.states.find((s) => s.appId === 'spin' && s.state === 'Running')!.at;
    await waitState(r, 'spin', 'Failed', 5_000);
    const failed = r.states.find((s) => s.appId === 'spin' && s.state === 'Failed')!;
    expect(failed.error).toMatch(
      /^CPU limit exceeded: ran \d+ ms without yielding \(limit 200 ms per call\)$/,
    );
    expect(failed.at - running).toBeLessThan(budget + 800);
    expect(r.logs.some((l) => l.appId === 'spin' && l.message === 'faulty: spinning')).toBe(true);

    const writes = r.rt.gpioWrites(2);
    await waitFor('blinky to keep toggling', () => r.rt.gpioWrites(2) >= writes + 3, 5_000, 10);
    expect(r.state('blinky')).toBe('Running');
    // And the device still takes new apps.
    await r.rt.deploy(req('hello', wasm.hello!));
    await waitState(r, 'hello', 'Exited');
  });

  it('a loop in the initializer fails the deployment itself', async () => {
    const r = runtime();
    const spinInit = assemble({
      funcs: [EMPTY_START, { name: '_initialize', code: [0x03, 0x40, 0x0c, 0x00, 0x0b] }], // loop br 0 end
    });
    const ack = await r.rt.deploy(req('init', spinInit, { limits: { memoryPages: 1, cpuMsPerCall: 100 } }));
    expect(ack.ok).toBe(false);
    expect(ack.error).toMatch(
      /^app failed to start: CPU limit exceeded: ran \d+ ms without yielding \(limit 100 ms per call\)$/,
    );
    expect(r.state('init')).toBe('Failed');
  });

  it('allocating past the memory limit traps instead of growing', async () => {
    const r = runtime();
    await r.rt.deploy(req('oom', wasm.faulty!, { entry: 'oom' }));
    await waitState(r, 'oom', 'Failed');
    expect(r.rt.status('oom')[0]?.error).toMatch(/^trap: unreachable/);

    // A module with no declared maximum runs with maximum = its limit: growing past it fails (-1).
    const grow = (pages: number) =>
      assemble({
        memory: { min: 1 },
        // if (memory.grow(pages) != -1) unreachable
        funcs: [
          {
            name: '_start',
            code: [...op.i32(pages), ...op.memoryGrow, ...op.i32(-1), 0x47, 0x04, 0x40, 0x00, 0x0b],
          },
        ],
      });
    await r.rt.deploy(req('grow-past', grow(2), { limits: { memoryPages: 2, cpuMsPerCall: null } }));
    await r.rt.deploy(req('grow-within', grow(1), { limits: { memoryPages: 2, cpuMsPerCall: null } }));
    await waitState(r, 'grow-past', 'Exited');
    await waitState(r, 'grow-within', 'Failed'); // the grow succeeded, so the module trapped
  });
});

describe('modules are checked before they run', () => {
  const rejects = async (module: Uint8Array, error: RegExp, more: Partial<DeployRequest> = {}, opts = {}) => {
    const r = runtime(opts);
    const ack = await r.rt.deploy(req('bad', module, more));
    expect(ack.ok).toBe(false);
    expect(ack.error).toMatch(error);
    expect(r.states).toEqual([]); // never started
    expect(r.rt.status()).toEqual([]);
  };

  it('rejects a module that is not WebAssembly', async () => {
    await rejects(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), /^invalid WebAssembly module: /);
    await rejects(wasm.hello!.subarray(0, 200), /^invalid WebAssembly module: /);
  });

  it('rejects imports other than the host API, naming the import', async () => {
    const env = assemble({
      imports: [{ module: 'env', name: 'abort', params: ['i32', 'i32', 'i32', 'i32'] }],
      funcs: [EMPTY_START],
    });
    await rejects(
      env,
      /^import "env"\."abort" is not allowed: apps may import only host functions from "wasmbed"$/,
    );
    const unknown = assemble({
      imports: [{ module: 'wasmbed', name: 'open_socket', params: [] }],
      funcs: [EMPTY_START],
    });
    await rejects(
      unknown,
      /^import "wasmbed"\."open_socket" is not a host function \(known: log, uptime_ms, /,
    );
    const wrongSig = assemble({
      imports: [{ module: 'wasmbed', name: 'log', params: ['i32'] }],
      funcs: [EMPTY_START],
    });
    await rejects(
      wrongSig,
      /^import "wasmbed"\."log" has the wrong signature: the host provides \(i32, i32\) -> \(\), the module expects \(i32\) -> \(\)$/,
    );
  });

  it('rejects a missing or mistyped entry', async () => {
    await rejects(
      assemble({ funcs: [{ name: 'main', code: [] }] }),
      /^entry "_start" is not exported by the module$/,
    );
    await rejects(wasm.hello!, /^entry "loop" is not exported by the module$/, { entry: 'loop' });
    await rejects(
      assemble({ funcs: [{ name: '_start', params: ['i32'], results: ['i32'], code: [...op.localGet(0)] }] }),
      /^entry "_start" must take no parameters and return nothing, but is \(i32\) -> i32$/,
    );
    await rejects(wasm.hello!, /^entry "memory" is a memory, not a function$/, { entry: 'memory' });
  });

  it('rejects memory over the limit', async () => {
    await rejects(
      assemble({ memory: { min: 8 }, funcs: [EMPTY_START] }),
      /^memory needs 8 pages initially, more than the limit of 2 pages \(64 KiB each\)$/,
    );
    await rejects(
      assemble({ memory: { min: 1, max: 16 }, funcs: [EMPTY_START] }),
      /^memory maximum of 16 pages exceeds the limit of 2 pages/,
    );
    // The app's limit is 1 page here: hello needs 1, so that fits; 0 does not.
    await rejects(wasm.hello!, /^memory needs 1 pages initially, more than the limit of 0 pages/, {
      limits: { memoryPages: 0, cpuMsPerCall: null },
    });
    // The device's limit wins over a larger app limit.
    await rejects(
      assemble({ memory: { min: 3 }, funcs: [EMPTY_START] }),
      /^memory needs 3 pages initially, more than the limit of 2 pages \(64 KiB each\) \(this device allows 2 pages per app\)$/,
      { limits: { memoryPages: 8, cpuMsPerCall: null } },
    );
    await rejects(
      assemble({ memory: { min: 1, exportAs: null }, funcs: [EMPTY_START] }),
      /^the module's memory must be exported as "memory"$/,
    );
    await rejects(
      wasm.hello!,
      /^module is \d+ bytes, more than the device accepts \(1024 bytes\)$/,
      {},
      { maxModuleBytes: 1024 },
    );
  });

  it('the API-side check gives the same verdicts without a device', () => {
    expect(checkAppModule(wasm.hello!, { memoryPages: 2 })).toMatchObject({
      ok: true,
      entry: '_start',
      memoryMaxPages: 2,
    });
    expect(checkAppModule(wasm.faulty!, { memoryPages: 2, entry: 'spin' })).toMatchObject({
      ok: true,
      entry: 'spin',
    });
    expect(
      checkAppModule(
        assemble({ imports: [{ module: 'wasmbed', name: 'nope', params: [] }], funcs: [EMPTY_START] }),
        { memoryPages: 2 },
      ),
    ).toEqual({
      ok: false,
      error: expect.stringMatching(/^import "wasmbed"\."nope" is not a host function/),
    });
  });
});

describe('the host API', () => {
  it('every host function in the table links with its signature', async () => {
    const r = runtime();
    const all = assemble({
      imports: Object.entries(HOST_FUNCTIONS).map(([n, t]) => ({
        module: 'wasmbed',
        name: n,
        params: t.params,
        results: t.results,
      })),
      funcs: [EMPTY_START],
    });
    expect(await r.rt.deploy(req('all', all))).toEqual({ ok: true, error: null });
    await waitState(r, 'all', 'Exited');
  });

  it('log truncates long messages and rate-limits floods, telling how many it dropped', async () => {
    const r = runtime();
    const long = assemble({
      imports: [LOG],
      memory: { min: 1 },
      funcs: [{ name: '_start', code: [...op.i32(0), ...op.i32(2000), ...op.call(0)] }],
    });
    await r.rt.deploy(req('long', long));
    await waitState(r, 'long', 'Exited');
    const message = r.logs.find((l) => l.appId === 'long')!.message;
    expect(message).toBe('\0'.repeat(HOST_LIMITS.logMaxBytes) + '…[truncated]');

    // 300 logs at once, then a pause and one more.
    const flood = assemble({
      imports: [LOG, SLEEP],
      memory: { min: 1 },
      funcs: [
        {
          name: '_start',
          locals: ['i32'],
          code: [
            ...[0x03, 0x40], // loop
            ...op.i32(0),
            ...op.i32(1),
            ...op.call(0), // log(0, 1)
            ...op.localGet(0),
            ...op.i32(1),
            0x6a,
            ...op.localTee(0),
            ...op.i32(300),
            0x48,
            0x0d,
            0x00, // while (++i < 300)
            0x0b, // end loop
            ...op.i32(200),
            ...op.call(1), // sleep_ms(200)
            ...op.i32(0),
            ...op.i32(1),
            ...op.call(0), // log(0, 1)
          ],
        },
      ],
    });
    await r.rt.deploy(req('flood', flood));
    await waitState(r, 'flood', 'Exited');
    const lines = r.logs.filter((l) => l.appId === 'flood');
    const info = lines.filter((l) => l.level === 1).length;
    expect(info).toBeGreaterThanOrEqual(HOST_LIMITS.logBurst + 1);
    expect(info).toBeLessThan(HOST_LIMITS.logBurst + 10);
    const warning = lines.find((l) => l.level === 2);
    expect(warning?.message).toBe(
      `${300 - (info - 1)} log messages dropped (rate limit ${HOST_LIMITS.logPerSecond}/s)`,
    );
  });
});

describe('deployments', () => {
  it('redeploying an appId replaces the running instance', async () => {
    const r = runtime();
    await r.rt.deploy(req('app', wasm.blinky!, { env: { PIN: '3', PERIOD_MS: '40' } }));
    await waitFor('blinky to toggle', () => r.rt.gpioWrites(3) >= 2, 5_000, 10);

    // An invalid replacement is rejected and leaves the running instance alone.
    const bad = await r.rt.deploy(req('app', new Uint8Array([0, 0x61, 0x73, 0x6d, 9, 9, 9, 9])));
    expect(bad.ok).toBe(false);
    expect(r.state('app')).toBe('Running');

    const ack = await r.rt.deploy(req('app', wasm.hello!));
    expect(ack).toEqual({ ok: true, error: null });
    const writes = r.rt.gpioWrites(3);
    await waitState(r, 'app', 'Exited');
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(r.rt.gpioWrites(3)).toBe(writes); // the old blinky is gone
    expect(r.rt.status()).toEqual([{ appId: 'app', state: 'Exited', error: null, restarts: 0 }]);
    expect(r.logs.map((l) => l.message)).toContain('Hello, wasmbed!');
    expect(r.states.map((s) => s.state)).toEqual(['Deploying', 'Running', 'Deploying', 'Running', 'Exited']);
  });

  it('concurrent deploys of one appId end with the last one; remove forgets the app', async () => {
    const r = runtime();
    const acks = await Promise.all([
      r.rt.deploy(req('x', wasm.blinky!, { env: { PIN: '4', PERIOD_MS: '40' } })),
      r.rt.deploy(req('x', wasm.sensor!, { env: { INTERVAL_MS: '30' } })),
    ]);
    expect(acks.map((a) => a.ok)).toEqual([true, true]);
    await waitFor('sensor to publish', () => r.publishes.length >= 2, 5_000, 10);
    expect(r.state('x')).toBe('Running');
    expect(r.rt.status()).toHaveLength(1);
    expect(await r.rt.remove('x')).toEqual({ ok: true, error: null });
    expect(r.rt.status()).toEqual([]);
  });
});

describe('apps sharing an app thread', () => {
  /** sleep_ms(ms) */
  const sleep = (ms: number) => [...op.i32(ms), ...op.call(0)];
  const PATTERN = 0xa5a5a5a5 | 0;

  it('a runaway loop fails with the CPU-limit reason while the app beside it keeps its cadence', async () => {
    const pool = new AppThreadPool({ threads: 1 });
    const r = runtime({ pool });
    await r.rt.deploy(req('blinky', wasm.blinky!, { env: { PIN: '6', PERIOD_MS: '40' } }));
    const ack = await r.rt.deploy(
      req('spin', wasm.faulty!, { entry: 'spin', limits: { memoryPages: 2, cpuMsPerCall: 300 } }),
    );
    expect(ack.ok).toBe(true);
    expect(pool.threadCount).toBe(1); // both on the one thread
    await waitState(r, 'spin', 'Failed', 5_000);
    expect(r.rt.status('spin')[0]?.error).toMatch(
      /^CPU limit exceeded: ran \d+ ms without yielding \(limit 300 ms per call\)$/,
    );
    const writes = r.rt.gpioWrites(6);
    await waitFor('blinky to keep toggling', () => r.rt.gpioWrites(6) >= writes + 5, 5_000, 10);
    expect(r.state('blinky')).toBe('Running');
    expect(pool.threadCount).toBe(1);
  });

  it("the runtime's bytes of a sleeping app's memory never show: a pattern in them survives sleeps", async () => {
    // Fill the region Asyncify borrows with a pattern, sleep (also sleep(0), which only yields),
    // and trap if any word of it changed; exit when all is well.
    const check = (addr: number) => [
      ...op.i32(addr),
      0x28,
      0x02,
      0x00, // i32.load
      ...op.i32(PATTERN),
      0x47,
      0x04,
      0x40,
      ...op.unreachable,
      0x0b, // i32.ne if unreachable end
    ];
    const checks = [0, 4, 8, 12, 64, 1024, ASYNCIFY_REGION_BYTES - 4].flatMap(check);
    const pattern = assemble({
      imports: [SLEEP],
      memory: { min: 1 },
      funcs: [
        {
          name: '_start',
          code: [
            ...op.i32(0),
            ...op.i32(0xa5),
            ...op.i32(ASYNCIFY_REGION_BYTES + 64),
            0xfc,
            0x0b,
            0x00, // memory.fill
            ...sleep(20),
            ...checks,
            ...sleep(0),
            ...checks,
            ...sleep(5),
            ...checks,
          ],
        },
      ],
    });
    const r = runtime();
    expect(await r.rt.deploy(req('pattern', pattern))).toEqual({ ok: true, error: null });
    await waitFor('pattern to end', () => ['Exited', 'Failed'].includes(r.state('pattern')!), 5_000, 10);
    expect(r.rt.status('pattern')[0]).toMatchObject({ state: 'Exited', error: null });
  });

  it('a stop during a sleep ends the app: it never wakes', async () => {
    const pool = new AppThreadPool({ threads: 1 });
    const r = runtime({ pool });
    // sleep 300 ms, then trap: the trap would show if it ever woke.
    const sleeper = assemble({
      imports: [SLEEP],
      funcs: [{ name: '_start', code: [...sleep(300), ...op.unreachable] }],
    });
    await r.rt.deploy(req('sleeper', sleeper));
    expect(pool.appCount).toBe(1);
    expect(await r.rt.stop('sleeper')).toEqual({ ok: true, error: null });
    expect(pool.appCount).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(r.rt.status('sleeper')).toEqual([
      { appId: 'sleeper', state: 'Stopped', error: null, restarts: 0 },
    ]);
    expect(r.logs.filter((l) => l.level === 3)).toEqual([]);
  });

  it('a sleep deeper than the saved stack can hold fails with the reason', async () => {
    // rec(n) = n == 0 ? sleep_ms(1) : rec(n - 1); _start calls rec(depth).
    const deep = (depth: number) =>
      assemble({
        imports: [SLEEP],
        funcs: [
          { name: '_start', code: [...op.i32(depth), ...op.call(2)] },
          {
            params: ['i32'],
            code: [
              ...op.localGet(0),
              0x45,
              0x04,
              0x40,
              ...sleep(1), // i32.eqz if sleep
              0x05,
              ...op.localGet(0),
              ...op.i32(1),
              0x6b,
              ...op.call(2),
              0x0b, // else rec(n - 1) end
            ],
          },
        ],
      });
    const r = runtime();
    await r.rt.deploy(req('shallow', deep(20)));
    await r.rt.deploy(req('deep', deep(5_000)));
    await waitState(r, 'shallow', 'Exited');
    await waitState(r, 'deep', 'Failed');
    expect(r.rt.status('deep')[0]?.error).toMatch(
      /^trap: sleep_ms: the app's call stack at the sleep does not fit the \d+ bytes the runtime saves for a sleeping app/,
    );
  });

  it('a thread that runs out of JS heap fails only its own apps, with the reason; the next app gets a fresh thread', async () => {
    const pool = new AppThreadPool({ threads: 2, heapMb: 8 });
    const r = runtime({ pool });
    // Apps go to the thread with the fewest: a and the hog share the first thread, b has the second.
    await r.rt.deploy(req('a', wasm.blinky!, { env: { PIN: '7', PERIOD_MS: '40' } }));
    await r.rt.deploy(req('b', wasm.blinky!, { env: { PIN: '8', PERIOD_MS: '40' } }));
    // 400,000 environment entries do not fit an 8 MB heap (the API bounds env; the runtime does not).
    const huge = Object.fromEntries(Array.from({ length: 400_000 }, (_, i) => [`k${i}`, `v${i}`]));
    await r.rt.deploy(req('hog', wasm.blinky!, { env: { PIN: '9', ...huge } }));
    await waitState(r, 'hog', 'Failed', 60_000);
    await waitState(r, 'a', 'Failed', 60_000);
    const reason = /^out of memory: the app thread's 8 MB JS heap was exhausted \(it ran 2 apps\)$/;
    expect(r.rt.status('hog')[0]?.error).toMatch(reason);
    expect(r.rt.status('a')[0]?.error).toMatch(reason);
    const writes = r.rt.gpioWrites(8);
    await waitFor('b to keep toggling', () => r.rt.gpioWrites(8) >= writes + 3, 5_000, 10);
    expect(r.state('b')).toBe('Running');
    expect(pool.threadCount).toBe(1);
    await r.rt.deploy(req('a', wasm.blinky!, { env: { PIN: '7', PERIOD_MS: '40' } }));
    expect(r.state('a')).toBe('Running');
    expect(pool.threadCount).toBe(2);
  });

  it('200 apps of 20 devices start on a pool of 2 threads, not a thread each', async () => {
    const pool = new AppThreadPool({ threads: 2 });
    const devices = Array.from({ length: 20 }, () => runtime({ pool }));
    const acks = await Promise.all(
      devices.flatMap((r, d) =>
        Array.from({ length: 10 }, (_, i) =>
          r.rt.deploy(
            req(`blinky-${i}`, wasm.blinky!, { env: { PIN: String(i), PERIOD_MS: String(20 + d) } }),
          ),
        ),
      ),
    );
    expect(acks.filter((a) => !a.ok)).toEqual([]);
    expect(pool.appCount).toBe(200);
    expect(pool.threadCount).toBe(2);
    await waitFor(
      'every device to see all its pins toggle',
      () =>
        devices.every((r) => Array.from({ length: 10 }, (_, i) => r.rt.gpioWrites(i)).every((n) => n >= 3)),
      10_000,
      20,
    );
    expect(devices.every((r) => r.rt.status().every((s) => s.state === 'Running'))).toBe(true);
    await Promise.all(devices.map((r) => r.rt.stopAll()));
    expect(pool.appCount).toBe(0);
  });
});
