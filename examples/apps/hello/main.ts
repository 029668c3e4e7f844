/* eslint-disable */
// @ts-nocheck -- AssemblyScript, compiled by scripts/build-apps.mjs, not by tsc
/** hello: logs a greeting (env GREETING overrides it) and its arguments, then exits. */
import { arg_count, getArg, getEnv, print } from '../lib/wasmbed';

export function _start(): void {
  print(getEnv('GREETING', 'Hello, wasmbed!'));
  const n = arg_count();
  for (let i = 0; i < n; i++) print('arg ' + i.toString() + ': ' + getArg(i));
}
