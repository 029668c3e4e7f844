/**
 * When a device's certificate is renewed. Its renewal window opens `renewBeforeMs` before the
 * certificate expires (WASMBED_CERT_RENEW_BEFORE_DAYS), and each device renews at a point of its
 * own within the window's first third, worked out from its name: a fleet provisioned in one burst
 * would otherwise renew in one burst too — a thousand sessions closed and reopened in the same
 * minute, a year later. The same device always gets the same point, so every check agrees.
 */
import { createHash } from 'node:crypto';

/** Renewals spread over this part of the renewal window; the rest is left for retries. */
const SPREAD_OF_WINDOW = 1 / 3;

export function renewalDueAt(device: string, notAfter: number, renewBeforeMs: number): number {
  const opens = notAfter - renewBeforeMs;
  const point = createHash('sha256').update(device).digest().readUInt32BE(0) / 2 ** 32;
  return opens + Math.floor(point * renewBeforeMs * SPREAD_OF_WINDOW);
}
