/**
 * Which app state changes become a write of the Application. An Application's status holds the
 * state of every device it runs on, so one device's change rewrites (and re-reads, and re-counts)
 * the whole resource: with 1,000 devices a few hundred kB per change. A rollout to the fleet, or a
 * host resuming its 1,000 devices with their apps after kill -9, sends a change from every device
 * within seconds — written one by one that was O(fleet²) bytes, the gateway's event loop spent
 * most of the restart on it, and sessions came back at 8 a second (BENCHMARKS.md). So changes are
 * gathered per application for `delayMs` and written together, the latest state of each device
 * winning; while an application's write is under way its next changes wait for it, as heartbeat
 * writes do (heartbeat-writes.ts). The Device's own `status.apps` is small and still written at once.
 */
import type { AppDeviceState } from '../common/resources.js';

export interface AppStatusWrites {
  /** `device` reported `state` for app `appId`: written with the app's other changes soon. */
  changed(appId: string, device: string, state: AppDeviceState): void;
  /** Writes what is gathered now and waits for every write under way (on shutdown). */
  flush(): Promise<void>;
}

export interface AppStatusWritesOptions {
  /** How long changes are gathered before a write. */
  delayMs: number;
  /** Writes the states of several devices of one application in one go. */
  write(appId: string, states: ReadonlyMap<string, AppDeviceState>): Promise<unknown>;
  /** A write that failed (it is not retried: the device reports its state again with its next change). */
  onError(appId: string, err: unknown): void;
}

export function batchedAppStatusWrites(options: AppStatusWritesOptions): AppStatusWrites {
  const pending = new Map<string, Map<string, AppDeviceState>>();
  const writing = new Map<string, Promise<void>>();
  let timer: NodeJS.Timeout | undefined;

  const schedule = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      for (const appId of [...pending.keys()]) start(appId);
    }, options.delayMs);
  };

  function start(appId: string): void {
    if (writing.has(appId)) return; // it starts again once that write settles
    const states = pending.get(appId);
    if (!states) return;
    pending.delete(appId);
    const done = options
      .write(appId, states)
      .then(
        () => undefined,
        (err: unknown) => options.onError(appId, err),
      )
      .finally(() => {
        writing.delete(appId);
        if (pending.has(appId)) schedule();
      });
    writing.set(appId, done);
  }

  return {
    changed(appId, device, state) {
      let states = pending.get(appId);
      if (!states) pending.set(appId, (states = new Map()));
      states.set(device, state);
      schedule();
    },
    async flush() {
      clearTimeout(timer);
      timer = undefined;
      while (pending.size > 0 || writing.size > 0) {
        for (const appId of [...pending.keys()]) start(appId);
        await Promise.all(writing.values());
      }
    },
  };
}
