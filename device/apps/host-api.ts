/**
 * The `wasmbed` host API (docs/host-api.md): the import module every app links against, the
 * same ABI the firmware exposes as WAMR natives. This file is the single source of the
 * function signatures and caps; it stays free of Node built-ins so API-side validation and
 * workflow code can import it.
 */

/** The only module an app may import from. */
export const HOST_MODULE = 'wasmbed';

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

const fn = (params: ValType[], results: ValType[] = []): FuncType => ({ params, results });

/** Every host function, by import name, with its exact WebAssembly signature. */
export const HOST_FUNCTIONS: Readonly<Record<string, FuncType>> = Object.freeze({
  log: fn(['i32', 'i32']),
  uptime_ms: fn([], ['i64']),
  sleep_ms: fn(['i32']),
  gpio_write: fn(['i32', 'i32']),
  gpio_read: fn(['i32'], ['i32']),
  sensor_read: fn(['i32'], ['i32']),
  publish: fn(['i32', 'i32', 'i32', 'i32']),
  env_get: fn(['i32', 'i32', 'i32', 'i32'], ['i32']),
  arg_count: fn([], ['i32']),
  arg_get: fn(['i32', 'i32', 'i32'], ['i32']),
});

/** The default entry export; a deployment may name another one. */
export const DEFAULT_ENTRY = '_start';
/** Called (if exported) after instantiation and before the entry: the WASI reactor convention. */
export const INITIALIZER_EXPORT = '_initialize';
/** A module that defines a memory must export it under this name. */
export const MEMORY_EXPORT = 'memory';

export const WASM_PAGE_BYTES = 65_536;

/** Caps and rates every runtime (virtual device and firmware) applies; see docs/host-api.md. */
export const HOST_LIMITS = Object.freeze({
  /** log: longer messages are truncated to this many bytes. */
  logMaxBytes: 1024,
  /** log: token bucket, messages per second sustained and burst; excess is dropped and counted. */
  logPerSecond: 50,
  logBurst: 100,
  /** publish: a topic of 1..topicMaxBytes bytes of UTF-8, else the app traps. */
  topicMaxBytes: 128,
  /** publish: more data than this traps. */
  publishMaxBytes: 4096,
  publishPerSecond: 10,
  publishBurst: 20,
  /** gpio_read / gpio_write: pins 0..gpioPins-1, others trap. */
  gpioPins: 32,
  /** sensor_read: channels 0..sensorChannels-1; other channels read SENSOR_NO_READING. */
  sensorChannels: 4,
  /** sleep_ms: longer sleeps are clamped to this (the app simply sleeps again). */
  sleepMaxMs: 3_600_000,
});

/** sensor_read's result for a channel the board does not have. */
export const SENSOR_NO_READING = -2147483648;

/** Sensor channels of the stand-in sensor, in milli-units. */
export const SENSOR_CHANNELS = Object.freeze([
  { channel: 0, quantity: 'temperature', unit: 'm°C' },
  { channel: 1, quantity: 'relative humidity', unit: 'm%RH' },
  { channel: 2, quantity: 'pressure', unit: 'mhPa' },
  { channel: 3, quantity: 'supply voltage', unit: 'mV' },
] as const);

/** CPU budget per host-to-app call when the deployment leaves `cpuMsPerCall` null. */
export const DEFAULT_CPU_MS_PER_CALL = 1000;

/**
 * Linear memory available to one app on a board: half its RAM (the rest is the firmware,
 * its network/TLS stack and the WAMR runtime), in whole 64 KiB pages, at least 1.
 */
export function appMemoryPagesFor(ramBytes: number): number {
  return Math.max(1, Math.floor(ramBytes / 2 / WASM_PAGE_BYTES));
}

export function formatFuncType(t: FuncType): string {
  return `(${t.params.join(', ')}) -> ${t.results.length === 0 ? '()' : t.results.join(', ')}`;
}
