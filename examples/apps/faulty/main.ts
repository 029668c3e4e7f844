/* eslint-disable */
// @ts-nocheck -- AssemblyScript, compiled by scripts/build-apps.mjs, not by tsc
/**
 * faulty: misbehaves on purpose; the deployment picks how through its entry.
 *   _start, trap   log a line, then trap (unreachable)
 *   spin           log a line, then loop forever without yielding (hits the CPU limit)
 *   bad_pointer    hand the host a pointer outside linear memory (the host traps the app)
 *   oom            allocate until linear memory is exhausted (the allocator traps)
 */
import { log, print } from '../lib/wasmbed';

let counter: u32 = 0;
const hoard: ArrayBuffer[] = [];

export function _start(): void {
  trap();
}

export function trap(): void {
  print('faulty: about to trap');
  unreachable();
}

export function spin(): void {
  print('faulty: spinning');
  while (true) counter++;
}

export function bad_pointer(): void {
  log(0x7fff0000, 16);
}

export function oom(): void {
  print('faulty: allocating until memory runs out');
  while (true) hoard.push(new ArrayBuffer(16 * 1024));
}
