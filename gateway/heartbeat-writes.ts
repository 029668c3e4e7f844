/**
 * Which heartbeats become a durable store write. A device heartbeats every few seconds; the store
 * needs its `lastHeartbeat` only as often as the lifecycle's "heartbeats stopped" check (twice the
 * heartbeat timeout) and the dashboard look at it, so a device's heartbeat is written at most once
 * per `minIntervalMs` (the gateway passes its heartbeat timeout). With a thousand devices a write
 * per heartbeat was most of what idle devices cost (BENCHMARKS.md, heartbeat writes).
 *
 * `minIntervalMs: 0` writes every heartbeat: the behaviour before coalescing, kept for the
 * benchmark that compares the two.
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
  write(device: string, at: Date): void;
  now?: () => number;
}

export function coalescedHeartbeatWrites(options: HeartbeatWritesOptions): HeartbeatWrites {
  const now = options.now ?? Date.now;
  const lastWritten = new Map<string, number>();
  return {
    heartbeat(device, at) {
      const t = now();
      const last = lastWritten.get(device);
      if (last !== undefined && t - last < options.minIntervalMs) return;
      lastWritten.set(device, t);
      options.write(device, at);
    },
    forget(device) {
      lastWritten.delete(device);
    },
    get tracked() {
      return lastWritten.size;
    },
  };
}
