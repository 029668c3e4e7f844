/**
 * Exponential backoff with full jitter: after a gateway restart every device waits a
 * random time in [0, min(cap, base·2^attempt)], so reconnects spread out instead of
 * arriving as one thundering herd.
 */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
