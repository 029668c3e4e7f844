/**
 * The gateway's appends to the device log (app Log and Publish lines): each device's lines in the
 * order it sent them, and kept through a store outage instead of dropped.
 *
 * Order: a device's lines are appended one after another (the next once the last is written).
 * Appended all at once over a connection pool, they took their ids in whatever order the
 * inserts finished, and the log read back out of order. Devices are written side by side, a few
 * at a time (`concurrency`), so a chatty device does not hold up the others or queue past the
 * pool's timeout.
 *
 * Outage: an append refused because the store cannot be reached (isStoreUnavailable: PostgreSQL
 * down beyond its pool's own 10 s retry) stops every device's writing; their lines are kept in
 * memory, and one line is tried after a backoff to learn whether the store is back. Once it goes
 * through, every device's kept lines are written, oldest first. What is kept is bounded: per
 * device by what the store keeps of its log anyway (older lines would be trimmed on arrival),
 * and in all by `maxPending` — past it the device appending loses its own oldest line, so one
 * chatty device cannot push out the others'. Lost lines are counted and logged. A line refused
 * for another reason (its device deleted meanwhile) is logged and dropped, as before.
 *
 * Log lines carry their own time (the device's, or when the gateway received them), so a line
 * written a minute late still reads when it happened.
 */
import { settledBy } from '../common/deadline.js';
import { NotFoundError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { DEVICE_LOG_KEEP_PER_DEVICE, type DeviceLogEntry, type DeviceLogs } from '../store/device-logs.js';
import { isStoreUnavailable } from '../store/store-unavailable.js';

export type NewDeviceLogEntry = Omit<DeviceLogEntry, 'id'>;

export interface DeviceLogWrites {
  /** Appends the line after the device's earlier ones, or keeps it through an outage; never waits. */
  append(entry: NewDeviceLogEntry): void;
  /** Lines not written yet (non-zero through an outage). */
  readonly pending: number;
  /** Lines lost since the gateway started: past the bounds in an outage, or unwritten at shutdown. */
  readonly dropped: number;
  readonly storeUnavailable: boolean;
  /**
   * Writes every line waiting — with the store unavailable, one try (which may wait out the pool's
   * 10 s retry) — until `deadline` (ms since the epoch) at the latest. Resolves with how many lines
   * were left unwritten (and counted as dropped), a line still being written at the deadline too.
   */
  flush(deadline: number): Promise<number>;
}

export interface DeviceLogWritesOptions {
  logs: DeviceLogs;
  logger: Logger;
  /** Lines kept in all at most (~200 B each). */
  maxPending?: number;
  /** Lines kept per device at most: what the store keeps of a device's log. */
  maxPendingPerDevice?: number;
  /** Devices written side by side. */
  concurrency?: number;
  /** The wait before trying again while the store is unavailable: first and longest. */
  retryMs?: { first: number; max: number };
}

export const DEVICE_LOG_MAX_PENDING = 20_000;
/** The pool has 10 connections; the rest of the gateway's writes need some. */
const CONCURRENCY = 4;
/** The same backoff as the status writes (status-writes.ts): the pool's own retry is 10 s. */
const RETRY_MS = { first: 500, max: 5_000 };

export function deviceLogWrites(options: DeviceLogWritesOptions): DeviceLogWrites {
  const { logs, logger } = options;
  const maxPending = options.maxPending ?? DEVICE_LOG_MAX_PENDING;
  const maxPerDevice = options.maxPendingPerDevice ?? DEVICE_LOG_KEEP_PER_DEVICE;
  const concurrency = options.concurrency ?? CONCURRENCY;
  const retryMs = options.retryMs ?? RETRY_MS;
  /** Each device's lines not yet written, oldest first. */
  const waiting = new Map<string, NewDeviceLogEntry[]>();
  /** Devices with lines and none being written: next in turn. */
  const ready = new Set<string>();
  /** Devices whose first line is being written. */
  const writing = new Set<string>();
  let pending = 0;
  let dropped = 0;
  /** Called when a write ends (flush waits on it). */
  let afterWrite: (() => void) | undefined;
  /** From the first refused append until a try goes through. */
  let outage: { since: number; waitMs: number; dropped: number; timer?: NodeJS.Timeout } | undefined;
  let closing = false;
  /** Set once flush() has counted what it left: a write of those that ends later says nothing. */
  let abandoned = false;

  function drop(device: string, lines: NewDeviceLogEntry[]): void {
    lines.shift();
    pending--;
    dropped++;
    if (outage && outage.dropped++ === 0)
      logger.warn('device log lines dropped: kept past their bound while the store is unavailable', {
        device,
        maxPending,
        maxPerDevice,
      });
  }

  /** Starts writing devices in turn, up to `concurrency` at once; none in an outage. */
  function pump(): void {
    for (const device of ready) {
      if (outage || writing.size >= concurrency) return;
      ready.delete(device);
      void writeFirst(device);
    }
  }

  async function writeFirst(device: string): Promise<void> {
    const lines = waiting.get(device)!;
    const line = lines[0]!;
    writing.add(device);
    let unavailable = false;
    try {
      await logs.append(line);
    } catch (err) {
      unavailable = isStoreUnavailable(err);
      if (!unavailable && !(err instanceof NotFoundError) && !abandoned)
        logger.warn('recording a device log line failed', { device, error: String(err) });
    }
    writing.delete(device);
    // Past the deadline of a shutdown, which counted this line among those it lost: nothing more.
    if (abandoned) return;
    // Written or refused for good, it goes (unless already dropped as the oldest past a bound).
    if (!unavailable && lines[0] === line) {
      lines.shift();
      pending--;
    }
    if (lines.length === 0) waiting.delete(device);
    else ready.add(device);
    if (unavailable) storeUnavailable();
    else storeAnswered();
    pump();
    const notify = afterWrite;
    afterWrite = undefined;
    notify?.();
  }

  function storeUnavailable(): void {
    if (!outage) {
      outage = { since: Date.now(), waitMs: retryMs.first, dropped: 0 };
      logger.warn('store unavailable: keeping device log lines until it answers', { maxPending });
    } else if (writing.size > 0) {
      return; // a write started before the outage was known: the try already coming goes on
    } else outage.waitMs = Math.min(outage.waitMs * 2, retryMs.max);
    if (closing) return;
    clearTimeout(outage.timer);
    outage.timer = setTimeout(tryOne, outage.waitMs);
  }

  /** While the store is unavailable: one line, to learn whether it is back. */
  function tryOne(): void {
    const device = ready.values().next().value;
    if (!outage || device === undefined) return;
    ready.delete(device);
    void writeFirst(device);
  }

  function storeAnswered(): void {
    if (!outage) return;
    clearTimeout(outage.timer);
    const { since, dropped: lost } = outage;
    outage = undefined;
    logger.info('store back: writing the device log lines kept', {
      lines: pending,
      dropped: lost,
      unavailableMs: Date.now() - since,
    });
  }

  return {
    append(entry) {
      let lines = waiting.get(entry.device);
      if (!lines) waiting.set(entry.device, (lines = []));
      lines.push(entry);
      pending++;
      if (lines.length > maxPerDevice || pending > maxPending) drop(entry.device, lines);
      if (!writing.has(entry.device)) ready.add(entry.device);
      pump();
    },
    get pending() {
      return pending;
    },
    get dropped() {
      return dropped;
    },
    get storeUnavailable() {
      return outage !== undefined;
    },
    async flush(deadline) {
      closing = true;
      if (outage) {
        clearTimeout(outage.timer);
        tryOne(); // one try; a store that is back takes all of it
      }
      // Each write ends by starting the next (none in an outage): done when none is under way.
      while (
        writing.size > 0 &&
        (await settledBy(new Promise<void>((resolve) => (afterWrite = resolve)), deadline))
      );
      const unwritten = pending;
      abandoned = unwritten > 0;
      if (unwritten > 0) {
        logger.warn('device log lines not written: the store is unavailable', {
          lines: unwritten,
          devices: [...waiting].map(([device, lines]) => `${device} (${lines.length})`),
        });
        dropped += unwritten;
        pending = 0;
        waiting.clear();
        ready.clear();
      }
      return unwritten;
    },
  };
}
