/** Helpers shared by the protocol test suites. */
import { ProtocolError } from '../../protocol/index.js';
import type { DeviceInfo } from '../../protocol/messages.js';

/** Returns the ProtocolError `fn` throws; fails the test if it throws anything else or nothing. */
export function protocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw new Error(`expected a ProtocolError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a ProtocolError, nothing was thrown');
}

/** Small deterministic PRNG (mulberry32) so that a failing random case can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The Hello of a test device that runs no firmware of its own (a DeviceLink driven by a test). */
export function testDeviceInfo(): Omit<DeviceInfo, 'type'> {
  return {
    firmwareVersion: 'test-0.1.0',
    mcuType: 'Mps2An385',
    freeMemory: 256 * 1024,
    maxAppSize: 128 * 1024,
    wasmFeatures: [],
  };
}
