/* eslint-disable */
// @ts-nocheck -- AssemblyScript, compiled by scripts/build-apps.mjs, not by tsc
/**
 * The wasmbed host API for AssemblyScript apps (docs/host-api.md). The declared functions are
 * imported from the module named after this file, "wasmbed"; the helpers below wrap them for
 * AssemblyScript strings (UTF-16 inside the app, UTF-8 across the host boundary).
 */

// ---- raw imports: exactly the host ABI ----------------------------------------------------
export declare function log(ptr: usize, len: i32): void;
export declare function uptime_ms(): i64;
export declare function sleep_ms(ms: i32): void;
export declare function gpio_write(pin: i32, value: i32): void;
export declare function gpio_read(pin: i32): i32;
export declare function sensor_read(channel: i32): i32;
export declare function publish(topicPtr: usize, topicLen: i32, dataPtr: usize, dataLen: i32): void;
export declare function env_get(keyPtr: usize, keyLen: i32, bufPtr: usize, bufLen: i32): i32;
export declare function arg_count(): i32;
export declare function arg_get(index: i32, bufPtr: usize, bufLen: i32): i32;

/** sensor_read's result for a channel the board does not have. */
export const SENSOR_NO_READING: i32 = i32.MIN_VALUE;

// ---- helpers -------------------------------------------------------------------------------

/** Logs a line (info level). */
export function print(message: string): void {
  const buf = String.UTF8.encode(message);
  log(changetype<usize>(buf), buf.byteLength);
}

/** Publishes UTF-8 text on a topic. */
export function publishText(topic: string, text: string): void {
  const t = String.UTF8.encode(topic);
  const d = String.UTF8.encode(text);
  publish(changetype<usize>(t), t.byteLength, changetype<usize>(d), d.byteLength);
}

/** The deployment's environment variable `key`, or `fallback` when it is not set. */
export function getEnv(key: string, fallback: string): string {
  const k = String.UTF8.encode(key);
  const n = env_get(changetype<usize>(k), k.byteLength, 0, 0);
  if (n < 0) return fallback;
  const buf = new ArrayBuffer(n);
  env_get(changetype<usize>(k), k.byteLength, changetype<usize>(buf), n);
  return String.UTF8.decode(buf);
}

/** An integer environment variable, or `fallback` when it is not set or empty. */
export function getEnvInt(key: string, fallback: i32): i32 {
  const s = getEnv(key, '');
  return s.length == 0 ? fallback : I32.parseInt(s);
}

/** The deployment's argument `index` ('' when there is none). */
export function getArg(index: i32): string {
  const n = arg_get(index, 0, 0);
  if (n < 0) return '';
  const buf = new ArrayBuffer(n);
  arg_get(index, changetype<usize>(buf), n);
  return String.UTF8.decode(buf);
}

/**
 * AssemblyScript's abort (failed assertion, bad index, ...), wired in by the build with
 * `--use abort=lib/wasmbed/wasmbedAbort`: logs the reason, then traps.
 */
export function wasmbedAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  print(
    'abort: ' +
      (message !== null ? message : 'unknown') +
      ' at ' +
      (fileName !== null ? fileName : '?') +
      ':' +
      line.toString() +
      ':' +
      column.toString(),
  );
  unreachable();
}
