/**
 * The longest gap between ticks of a 5 ms timer while something runs: how long the event loop
 * was blocked (a thread parked in Atomics.wait shows as one gap per call).
 */
export function watchLoopGaps(intervalMs = 5): { worstGapMs(): number; stop(): number } {
  let last = performance.now();
  let worst = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, intervalMs);
  return {
    worstGapMs: () => worst,
    stop() {
      clearInterval(ticker);
      return worst;
    },
  };
}
