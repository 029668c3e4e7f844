/**
 * Which heartbeats become a durable store write. A device heartbeats every few seconds; the store
 * needs its `lastHeartbeat` only as often as the lifecycle's "heartbeats stopped" check (twice the
 * heartbeat timeout) and the dashboard look at it, so a device's heartbeat is written at most once
 * per `minIntervalMs` (the gateway passes its heartbeat timeout). With a thousand devices a write
 * per heartbeat was most of what idle devices cost (BENCHMARKS.md, heartbeat writes).
 *
 * `minIntervalMs: 0` writes every heartbeat: the behaviour before coalescing, kept for the
 * benchmark that compares the two.
 *
 * A device's next heartbeat is not written while its previous write is still under way (when
 * `write` returns a promise): a store slower than the heartbeats then gets fewer writes instead
 * of an ever longer queue of them (bench/heartbeat-writes.ts saw 20,000 in flight on a loaded
 * Kubernetes API server). The benchmark's direct writes return one; the gateway's writer returns
 * nothing and holds a device's next write back itself (status-writes.ts).
 */
export interface HeartbeatWrites {
  /** A heartbeat arrived from `device`; writes it if the device's last write is old enough. */
  heartbeat(device: string, at: Date): void;
  /** The device's session ended: drop its entry, so the map holds only connected devices. */
  forget(device: string): void;
  /** Devices with an entry (for tests and the benchmark). */
  readonly tracked: number;
}

export interface HeartbeatWritesOptions {
  minIntervalMs: number;
  /** Starts the write; a promise returned keeps the device's next writes back until it settles. */
  write(device: string, at: Date): Promise<unknown> | void;
  now?: () => number;
}

export function coalescedHeartbeatWrites(options: HeartbeatWritesOptions): HeartbeatWrites {
  const now = options.now ?? Date.now;
  const lastWritten = new Map<string, number>();
  const inFlight = new Set<string>();
  return {
    heartbeat(device, at) {
      const t = now();
      const last = lastWritten.get(device);
      if (inFlight.has(device) || (last !== undefined && t - last < options.minIntervalMs)) return;
      lastWritten.set(device, t);
      const writing = options.write(device, at);
      if (!writing) return;
      inFlight.add(device);
      const settled = () => inFlight.delete(device);
      writing.then(settled, settled);
    },
    forget(device) {
      lastWritten.delete(device);
    },
    get tracked() {
      return lastWritten.size;
    },
  };
}
