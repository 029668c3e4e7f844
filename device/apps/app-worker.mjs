/* global WebAssembly, TextDecoder, TextEncoder, performance */
/**
 * One app, one worker thread: instantiates the app's module against the `wasmbed` host API
 * (docs/host-api.md) and runs its entry synchronously. Plain JavaScript so it starts without
 * a TypeScript loader. The parent (runtime.ts) owns the limits: it reads the shared control
 * block to see whether the app is running or sleeping and terminates the worker when a call
 * runs past its CPU budget.
 *
 * Messages to the parent: {type:'log', level, message}, {type:'publish', topic, data},
 * {type:'started'}, {type:'exited'}, {type:'failed', error, phase: 'instantiate'|'run'}.
 */
import { parentPort, workerData } from 'node:worker_threads';

// Layout of the shared control block; runtime.ts mirrors these constants.
const STATE = 0; // 0 booting, 1 running, 2 sleeping, 3 done
const WAKE = 1; // Atomics.wait cell for sleep_ms; the parent notifies it to cut a sleep short
const STOP = 2; // set by the parent before it terminates the worker
const RUNNING = 1;
const SLEEPING = 2;
const DONE = 3;

const { module, entry, env, args, control, gpio, sensors, bootTimeMs, caps } = workerData;
const ctrl = new Int32Array(control, 0, 4);
const times = new Float64Array(control, 16, 2); // [segment start (epoch ms), process CPU ms then]
const gpioState = new Int32Array(gpio); // [0, pins): levels; [pins, 2*pins): write counts
const sensorOverrides = new Int32Array(sensors); // [2*ch]: overridden?, [2*ch + 1]: value

const port = parentPort;
if (!port) throw new Error('app-worker must run in a worker thread');

const now = () => performance.timeOrigin + performance.now();
const processCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
function beginSegment() {
  times[0] = now();
  times[1] = processCpuMs();
  Atomics.store(ctrl, STATE, RUNNING);
}

class HostTrap extends Error {}
class Stopped extends Error {}

const utf8 = new TextDecoder('utf-8');
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** @type {WebAssembly.Memory | null} */
let memory = null;
let instantiated = false;

/** The app's bytes [ptr, ptr+len), or a trap naming the host function and the bad range. */
function view(fn, ptr, len) {
  if (len < 0) throw new HostTrap(`${fn}: negative length ${len}`);
  const start = ptr >>> 0;
  const size = memory ? memory.buffer.byteLength : 0;
  if (start + len > size) {
    if (!instantiated && len > 0) {
      throw new HostTrap(
        `${fn}: linear memory is not accessible from the module's start function (use _initialize)`,
      );
    }
    throw new HostTrap(`${fn}: bytes [${start}, ${start + len}) are outside linear memory (${size} bytes)`);
  }
  return memory ? new Uint8Array(memory.buffer, start, len) : new Uint8Array(0);
}

const DROP_REPORT_INTERVAL_MS = 5000;

/**
 * A token bucket. take() tells whether a message may go; messages that may not are counted,
 * and the count is reported (as a warning before the next message that goes) at once the
 * first time, then at most every DROP_REPORT_INTERVAL_MS.
 */
function rateLimiter(what, perSecond, burst) {
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
        port.postMessage({
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
const logLimiter = rateLimiter('log', caps.logPerSecond, caps.logBurst);
const publishLimiter = rateLimiter('publish', caps.publishPerSecond, caps.publishBurst);

function copyOut(fn, bufPtr, bufLen, bytes) {
  const dest = view(fn, bufPtr, bufLen);
  dest.set(bytes.subarray(0, Math.min(bufLen, bytes.length)));
  return bytes.length;
}

function pinIndex(fn, pin) {
  if (pin < 0 || pin >= caps.gpioPins)
    throw new HostTrap(`${fn}: no pin ${pin} (pins are 0..${caps.gpioPins - 1})`);
  return pin;
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

const host = {
  log(ptr, len) {
    const bytes = view('log', ptr, len);
    if (!logLimiter.take()) return;
    const message =
      len > caps.logMaxBytes
        ? `${utf8.decode(bytes.subarray(0, caps.logMaxBytes))}…[truncated]`
        : utf8.decode(bytes);
    port.postMessage({ type: 'log', level: 1, message });
  },
  uptime_ms() {
    return BigInt(Math.max(0, Math.floor(Date.now() - bootTimeMs)));
  },
  sleep_ms(ms) {
    if (ms < 0) throw new HostTrap(`sleep_ms: negative duration ${ms}`);
    Atomics.store(ctrl, STATE, SLEEPING);
    Atomics.wait(ctrl, WAKE, 0, Math.min(ms, caps.sleepMaxMs));
    if (Atomics.load(ctrl, STOP) !== 0) throw new Stopped('stopped');
    beginSegment();
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
      throw new HostTrap(`publish: ${dataLen} bytes of data, more than the limit of ${caps.publishMaxBytes}`);
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
    port.postMessage({ type: 'publish', topic, data }, [data.buffer]);
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

/** A one-line reason for a failure: traps keep the engine's message and the wasm frame. */
function describe(err) {
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
    .find((l) => l.includes('wasm-function['));
  if (!frame) return '';
  const m = /at (?:(\S+) \()?\S*?(wasm-function\[\d+\]):(0x[0-9a-f]+)/.exec(frame);
  if (!m) return '';
  return m[1] ? ` (in ${m[1]}, ${m[2]} at ${m[3]})` : ` (in ${m[2]} at ${m[3]})`;
}

function main() {
  let instance;
  try {
    beginSegment();
    instance = new WebAssembly.Instance(module, { wasmbed: host });
    instantiated = true;
    memory = instance.exports.memory instanceof WebAssembly.Memory ? instance.exports.memory : null;
    if (typeof instance.exports._initialize === 'function') instance.exports._initialize();
  } catch (err) {
    if (err instanceof Stopped) return;
    Atomics.store(ctrl, STATE, DONE);
    port.postMessage({ type: 'failed', phase: 'instantiate', error: describe(err) });
    return;
  }
  port.postMessage({ type: 'started' });
  try {
    beginSegment();
    instance.exports[entry]();
    Atomics.store(ctrl, STATE, DONE);
    port.postMessage({ type: 'exited' });
  } catch (err) {
    Atomics.store(ctrl, STATE, DONE);
    if (err instanceof Stopped) return;
    port.postMessage({ type: 'failed', phase: 'run', error: describe(err) });
  }
}

main();
