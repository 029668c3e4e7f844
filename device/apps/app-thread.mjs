/* global WebAssembly, TextDecoder, TextEncoder, performance, setImmediate, clearImmediate */
/**
 * One thread of the app pool (pool.ts): runs many apps, each its own WebAssembly instance
 * with its own linear memory, against the `wasmbed` host API (docs/host-api.md). Plain
 * JavaScript so it starts without a TypeScript loader.
 *
 * Apps share the thread cooperatively. Their modules were prepared by transform-worker.mjs:
 * - fuel: every function entry and loop header spends fuel; when it runs out the module calls
 *   `wasmbed_internal.out_of_fuel`, which checks the app's CPU budget for the current call and
 *   whether it was stopped, and throws to end only that app (or hands out more fuel);
 * - Asyncify: `sleep_ms` unwinds the app's stack back to this scheduler, which runs the other
 *   apps and rewinds it when its timer fires. Asyncify keeps the unwound stack in linear
 *   memory; the runtime swaps the app's own bytes of that region out while Asyncify uses it
 *   and back before any app code runs, so the app never sees it.
 *
 * Messages in: {type:'start', id, ...}, {type:'stop', id}. Messages out, all with the
 * instance's id: {type:'log', level, message}, {type:'publish', topic, data}, {type:'started'},
 * {type:'exited'}, {type:'failed', error}, {type:'dropped'} (the answer to stop).
 * The shared `busy` cells tell the pool since when this thread runs an app call and its
 * budget, so that a thread stuck outside any app's fuel checks (a bug) is replaced.
 */
import { parentPort, workerData } from 'node:worker_threads';

const port = parentPort;
if (!port) throw new Error('app-thread must run in a worker thread');

const { fuel: FUEL, asyncifyRegionBytes: REGION_BYTES, busy: busyBuffer } = workerData;
const busy = new Float64Array(busyBuffer); // [call start (epoch ms) or 0 when idle, its budget ms]

/** Per-instance control cell set by the pool: 1 = stopped (checked at every fuel refill). */
const STOP = 0;
/** Asyncify's state while the app's stack is being unwound (see asyncify_get_state). */
const UNWINDING = 1;
const REWINDING = 2;
/** Asyncify's data: [i32 stack position, i32 stack end] at address 0, the stack after them. */
const ASYNC_HEADER = 8;

const now = () => performance.timeOrigin + performance.now();
const processCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

class HostTrap extends Error {}
class Stopped extends Error {}
class CpuLimit extends Error {}

const utf8 = new TextDecoder('utf-8');
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();
const DROP_REPORT_INTERVAL_MS = 5000;

/** Every instance this thread runs, by id. */
const apps = new Map();

port.on('message', (msg) => {
  if (msg.type === 'start') start(msg);
  else if (msg.type === 'stop') {
    drop(msg.id);
    port.postMessage({ id: msg.id, type: 'dropped' });
  }
});

function send(app, msg, transfer) {
  if (apps.get(app.id) === app) port.postMessage({ id: app.id, ...msg }, transfer);
}

function drop(id) {
  const app = apps.get(id);
  if (!app) return;
  apps.delete(id);
  if (app.timer) clearTimeout(app.timer);
  if (app.immediate) clearImmediate(app.immediate);
  app.timer = app.immediate = null;
}

function fail(app, err) {
  if (err instanceof Stopped) {
    drop(app.id);
    return;
  }
  send(app, { type: 'failed', error: describe(app, err) });
  drop(app.id);
}

/**
 * A token bucket. take() tells whether a message may go; messages that may not are counted,
 * and the count is reported (as a warning before the next message that goes) at once the
 * first time, then at most every DROP_REPORT_INTERVAL_MS.
 */
function rateLimiter(app, what, perSecond, burst) {
  let tokens = burst;
  let last = now();
  let dropped = 0;
  let lastReport = -Infinity;
  return {
    take() {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - last) * perSecond) / 1000);
      last = t;
      if (tokens < 1) {
        dropped++;
        return false;
      }
      tokens -= 1;
      if (dropped > 0 && t - lastReport >= DROP_REPORT_INTERVAL_MS) {
        send(app, {
          type: 'log',
          level: 2,
          message: `${dropped} ${what} messages dropped (rate limit ${perSecond}/s)`,
        });
        dropped = 0;
        lastReport = t;
      }
      return true;
    },
  };
}

/** The stand-in sensor: slow deterministic waves around plausible values, in milli-units. */
function syntheticReading(channel, t) {
  const wave = (periodMs, phase) => Math.sin((2 * Math.PI * t) / periodMs + phase);
  switch (channel) {
    case 0:
      return Math.round(22_000 + 3_000 * wave(60_000, 0)); // m°C
    case 1:
      return Math.round(45_000 + 10_000 * wave(90_000, 1)); // m%RH
    case 2:
      return Math.round(1_013_250 + 2_000 * wave(300_000, 2)); // mhPa
    default:
      return Math.round(3_300 - 50 * wave(600_000, 3)); // mV
  }
}

function start(msg) {
  const { id, module, entry, env, args, control, gpio, sensors, bootTimeMs, caps, budgetMs } = msg;
  const app = {
    id,
    entry,
    budgetMs,
    ctrl: new Int32Array(control),
    instance: null,
    /** The app's exported memory, or null: what host functions may read and write. */
    memory: null,
    /** The memory Asyncify keeps its data in: the app's, or the one the transform added. */
    asyncMemory: null,
    segmentWall: 0,
    segmentCpu: 0,
    /** The export a sleeping app resumes in (_initialize or the entry), and its saved stack. */
    resume: null,
    stack: null,
    /** The app's own bytes of the Asyncify region while Asyncify's data sits there. */
    hidden: null,
    regionBytes: 0,
    timer: null,
    immediate: null,
  };
  apps.set(id, app);
  const gpioState = new Int32Array(gpio); // [0, pins): levels; [pins, 2*pins): write counts
  const sensorOverrides = new Int32Array(sensors); // [2*ch]: overridden?, [2*ch + 1]: value
  const logLimiter = rateLimiter(app, 'log', caps.logPerSecond, caps.logBurst);
  const publishLimiter = rateLimiter(app, 'publish', caps.publishPerSecond, caps.publishBurst);

  /** The app's bytes [ptr, ptr+len), or a trap naming the host function and the bad range. */
  const view = (fn, ptr, len) => {
    if (len < 0) throw new HostTrap(`${fn}: negative length ${len}`);
    const begin = ptr >>> 0;
    const size = app.memory ? app.memory.buffer.byteLength : 0;
    if (begin + len > size) {
      if (!app.instance && len > 0) {
        throw new HostTrap(
          `${fn}: linear memory is not accessible from the module's start function (use _initialize)`,
        );
      }
      throw new HostTrap(`${fn}: bytes [${begin}, ${begin + len}) are outside linear memory (${size} bytes)`);
    }
    return app.memory ? new Uint8Array(app.memory.buffer, begin, len) : new Uint8Array(0);
  };
  const copyOut = (fn, bufPtr, bufLen, bytes) => {
    const dest = view(fn, bufPtr, bufLen);
    dest.set(bytes.subarray(0, Math.min(bufLen, bytes.length)));
    return bytes.length;
  };
  const pinIndex = (fn, pin) => {
    if (pin < 0 || pin >= caps.gpioPins)
      throw new HostTrap(`${fn}: no pin ${pin} (pins are 0..${caps.gpioPins - 1})`);
    return pin;
  };

  const host = {
    log(ptr, len) {
      const bytes = view('log', ptr, len);
      if (!logLimiter.take()) return;
      const message =
        len > caps.logMaxBytes
          ? `${utf8.decode(bytes.subarray(0, caps.logMaxBytes))}…[truncated]`
          : utf8.decode(bytes);
      send(app, { type: 'log', level: 1, message });
    },
    uptime_ms() {
      return BigInt(Math.max(0, Math.floor(Date.now() - bootTimeMs)));
    },
    sleep_ms(ms) {
      if (!app.instance) {
        throw new HostTrap("sleep_ms: an app cannot sleep in the module's start function (use _initialize)");
      }
      const exports = app.instance.exports;
      if (exports.asyncify_get_state() === REWINDING) {
        // Back at the sleep: the stack is restored; give the app its bytes back and go on.
        exports.asyncify_stop_rewind();
        unhide(app);
        beginSegment(app);
        return;
      }
      if (ms < 0) throw new HostTrap(`sleep_ms: negative duration ${ms}`);
      app.sleepMs = Math.min(ms, caps.sleepMaxMs);
      hide(app);
      const header = new Int32Array(app.asyncMemory.buffer, 0, 2);
      header[0] = ASYNC_HEADER;
      header[1] = app.regionBytes;
      exports.asyncify_start_unwind(0);
    },
    gpio_write(pin, value) {
      const i = pinIndex('gpio_write', pin);
      Atomics.store(gpioState, i, value === 0 ? 0 : 1);
      Atomics.add(gpioState, caps.gpioPins + i, 1);
    },
    gpio_read(pin) {
      return Atomics.load(gpioState, pinIndex('gpio_read', pin));
    },
    sensor_read(channel) {
      if (channel < 0 || channel >= caps.sensorChannels) return caps.sensorNoReading;
      if (Atomics.load(sensorOverrides, 2 * channel) !== 0)
        return Atomics.load(sensorOverrides, 2 * channel + 1);
      return syntheticReading(channel, Date.now() - bootTimeMs);
    },
    publish(topicPtr, topicLen, dataPtr, dataLen) {
      if (topicLen === 0 || topicLen > caps.topicMaxBytes) {
        throw new HostTrap(`publish: topic must be 1..${caps.topicMaxBytes} bytes, got ${topicLen}`);
      }
      if (dataLen > caps.publishMaxBytes) {
        throw new HostTrap(
          `publish: ${dataLen} bytes of data, more than the limit of ${caps.publishMaxBytes}`,
        );
      }
      let topic;
      try {
        topic = utf8Strict.decode(view('publish', topicPtr, topicLen));
      } catch (err) {
        if (err instanceof HostTrap) throw err;
        throw new HostTrap('publish: topic is not valid UTF-8');
      }
      const data = view('publish', dataPtr, dataLen).slice();
      if (!publishLimiter.take()) return;
      send(app, { type: 'publish', topic, data }, [data.buffer]);
    },
    env_get(keyPtr, keyLen, bufPtr, bufLen) {
      const key = utf8.decode(view('env_get', keyPtr, keyLen));
      if (!Object.hasOwn(env, key)) {
        view('env_get', bufPtr, bufLen);
        return -1;
      }
      return copyOut('env_get', bufPtr, bufLen, encoder.encode(env[key]));
    },
    arg_count() {
      return args.length;
    },
    arg_get(index, bufPtr, bufLen) {
      if (index < 0 || index >= args.length) {
        view('arg_get', bufPtr, bufLen);
        return -1;
      }
      return copyOut('arg_get', bufPtr, bufLen, encoder.encode(args[index]));
    },
  };

  const internal = {
    /** Called by the module every FUEL function entries and loop iterations. */
    out_of_fuel() {
      if (Atomics.load(app.ctrl, STOP) !== 0) throw new Stopped('stopped');
      const wall = now() - app.segmentWall;
      if (wall >= app.budgetMs && processCpuMs() - app.segmentCpu >= app.budgetMs) {
        throw new CpuLimit(
          `CPU limit exceeded: ran ${Math.round(wall)} ms without yielding (limit ${app.budgetMs} ms per call)`,
        );
      }
      return FUEL;
    },
  };

  try {
    beginCall(app);
    app.instance = new WebAssembly.Instance(module, { wasmbed: host, wasmbed_internal: internal });
    const exports = app.instance.exports;
    app.memory = exports.memory instanceof WebAssembly.Memory ? exports.memory : null;
    app.asyncMemory = app.memory ?? exports.wasmbed_asyncify_memory;
  } catch (err) {
    fail(app, err);
    return;
  } finally {
    endCall();
  }
  if (typeof app.instance.exports._initialize === 'function') run(app, '_initialize', false);
  else afterInitialize(app);
}

function afterInitialize(app) {
  send(app, { type: 'started' });
  run(app, app.entry, false);
}

/** Runs (or, rewinding, resumes) one export of the app until it returns, sleeps or fails. */
function run(app, name, rewinding) {
  if (apps.get(app.id) !== app) return;
  const exports = app.instance.exports;
  try {
    beginCall(app);
    if (rewinding) {
      hide(app);
      new Uint8Array(app.asyncMemory.buffer).set(app.stack, 0);
      app.stack = null;
      exports.asyncify_start_rewind(0);
    }
    exports[name]();
    if (exports.asyncify_get_state() === UNWINDING) {
      const [position, end] = new Int32Array(app.asyncMemory.buffer, 0, 2);
      // Asyncify checks the bound only when the unwind is over; what it wrote past the end is
      // the app's memory, but the app fails now and never runs again.
      if (position > end) throw stackTooDeep(app);
      exports.asyncify_stop_unwind();
      app.stack = new Uint8Array(app.asyncMemory.buffer, 0, position).slice();
      unhide(app);
      sleep(app, name);
      return;
    }
  } catch (err) {
    // Unwinding past the end of the memory traps on the way.
    const unwinding = err instanceof WebAssembly.RuntimeError && exports.asyncify_get_state() === UNWINDING;
    fail(app, unwinding ? stackTooDeep(app) : err);
    return;
  } finally {
    endCall();
  }
  if (name === '_initialize') afterInitialize(app);
  else {
    send(app, { type: 'exited' });
    drop(app.id);
  }
}

function stackTooDeep(app) {
  return new HostTrap(
    `sleep_ms: the app's call stack at the sleep does not fit the ${app.regionBytes - ASYNC_HEADER} bytes ` +
      `the runtime saves for a sleeping app (sleep from a shallower call depth, or with fewer locals live)`,
  );
}

/** Wakes the app after its sleep; sleep_ms(0) still lets the thread's other apps run first. */
function sleep(app, name) {
  const wake = () => {
    app.timer = app.immediate = null;
    run(app, name, true);
  };
  if (app.sleepMs > 0) app.timer = setTimeout(wake, app.sleepMs);
  else app.immediate = setImmediate(wake);
}

/** Moves the app's bytes of the Asyncify region aside (Asyncify's data goes there). */
function hide(app) {
  const size = app.asyncMemory.buffer.byteLength;
  app.regionBytes = Math.min(REGION_BYTES, size);
  if (app.regionBytes <= ASYNC_HEADER) {
    throw new HostTrap(`sleep_ms: the app's linear memory (${size} bytes) is too small to save its stack in`);
  }
  app.hidden = new Uint8Array(app.asyncMemory.buffer, 0, app.regionBytes).slice();
}

function unhide(app) {
  new Uint8Array(app.asyncMemory.buffer).set(app.hidden, 0);
  app.hidden = null;
}

function beginSegment(app) {
  app.segmentWall = now();
  app.segmentCpu = processCpuMs();
}

function beginCall(app) {
  beginSegment(app);
  busy[1] = app.budgetMs;
  busy[0] = app.segmentWall;
}

function endCall() {
  busy[0] = 0;
}

/** A one-line reason for a failure: traps keep the engine's message and the wasm frame. */
function describe(app, err) {
  if (err instanceof CpuLimit) return err.message;
  if (err instanceof HostTrap) return `trap: ${err.message}${wasmFrame(err)}`;
  if (err instanceof WebAssembly.RuntimeError) return `trap: ${err.message}${wasmFrame(err)}`;
  if (err instanceof RangeError && /call stack/i.test(err.message))
    return `trap: call stack exhausted${wasmFrame(err)}`;
  if (err instanceof WebAssembly.LinkError)
    return `link error: ${err.message.replace(/^WebAssembly\.Instance\(\): /, '')}`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}
function wasmFrame(err) {
  const frame = String(err.stack ?? '')
    .split('\n')
    .find((l) => l.includes('wasm-function[') && !/\bwasmbed_|\blog_execution\b/.test(l));
  if (!frame) return '';
  const m = /at (?:(\S+) \()?\S*?(wasm-function\[\d+\]):(0x[0-9a-f]+)/.exec(frame);
  if (!m) return '';
  return m[1] ? ` (in ${m[1]}, ${m[2]} at ${m[3]})` : ` (in ${m[2]} at ${m[3]})`;
}
