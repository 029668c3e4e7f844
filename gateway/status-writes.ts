/**
 * The gateway's writes of what devices tell it (a session up or down, heartbeats, app states) to
 * resources' status: coalesced per resource, one write of a resource at a time, and kept through a
 * store outage.
 *
 * Coalesced: a resource's changes are recorded per field (a device's session, an app's state),
 * and a later change of a field replaces the earlier one; all of a resource's changes gathered
 * are written together. An Application's status holds the state of every device it runs on, so
 * one device's change rewrites (and re-reads, and re-counts) the whole resource: with 1,000
 * devices a few hundred kB per change. A rollout to the fleet, or a host resuming its 1,000
 * devices with their apps after kill -9, sends a change from every device within seconds —
 * written one by one that was O(fleet²) bytes and sessions came back at 8 a second
 * (BENCHMARKS.md). So Application changes are gathered for `delayMs`; a Device's are written at
 * once (`delayMs: 0`).
 *
 * One at a time: while a resource's write is under way its next changes wait for it. On
 * PostgreSQL two writes on two pool connections reach the row lock in either order: a device that
 * reported its app Deploying and then Running a moment later kept Deploying for good (17 of 100
 * devices after a restart of their host, their apps running). And a store slower than the
 * changes gets fewer writes instead of an ever longer queue of them.
 *
 * Kept through an outage: a write that failed because the store could not be reached
 * (isStoreUnavailable: PostgreSQL down beyond the pool's own 10 s retry, the Kubernetes API
 * server down) goes back under the changes made since, and nothing is written until the store
 * answers again: one write is tried after a backoff (`retryMs`, doubling to its max), and once
 * one goes through every resource waiting is written, a few at a time. Without this a device
 * that connected, left or changed its app in an outage was shown wrong until something rewrote
 * it, a quiet device never. Memory stays bounded: at most one change per field of each resource.
 * Any other failure (the resource deleted meanwhile: NotFound; a validation error) is reported
 * and dropped — no retry changes it, and a deleted device must not come back.
 */
import { settledBy } from '../common/deadline.js';
import { isStoreUnavailable } from '../store/store-unavailable.js';

/** A resource whose changes did not reach the store, and which of its fields they were. */
export interface UnwrittenChanges {
  name: string;
  fields: string[];
}

export interface StatusWrites<V> {
  /** `field` of resource `name` changed to `value`: written with the resource's other changes soon. */
  change(name: string, field: string, value: V): void;
  /** Resources with changes not yet in the store (gathered, waiting for it, or being written). */
  readonly pending: number;
  /** Since a write failed for the store being unavailable, until one goes through again. */
  readonly storeUnavailable: boolean;
  /**
   * On shutdown: writes what is gathered and waits for the writes under way, until `deadline`
   * (ms since the epoch) at the latest — each try of a PostgreSQL that is down takes the pool's
   * 10 s. With the store known to be unavailable, one write first; the rest only if it goes
   * through. Resolves with what did not reach the store (changes of a write still under way at
   * the deadline included: the process ends before it could).
   */
  flush(deadline: number): Promise<UnwrittenChanges[]>;
}

export interface StatusWritesOptions<V> {
  /** How long changes are gathered before a write (0: written at once). */
  delayMs: number;
  /** Writes the changes of one resource in one go: the latest of each field, the last changed last. */
  write(name: string, changes: ReadonlyMap<string, V>): Promise<unknown>;
  /** A write that failed for another reason than the store being unavailable: it is dropped. */
  onError(name: string, err: unknown): void;
  /**
   * The store took writes again after an outage and every resource waiting has been written:
   * `written` resources (a refused one counts), `unavailableMs` since the first write it refused.
   */
  onCaughtUp?(info: { written: number; unavailableMs: number }): void;
  /** The wait before trying again while the store is unavailable: first and longest. */
  retryMs?: { first: number; max: number };
  /** Writes started at once when the store is back (the pool has 10 connections). */
  catchUpConcurrency?: number;
}

/** `dev-1 (session, lastHeartbeat)`: for a log line saying what a shutdown could not write. */
export const describeUnwritten = (unwritten: UnwrittenChanges[]): string[] =>
  unwritten.map(({ name, fields }) => `${name} (${fields.join(', ')})`);

/** The pool itself retries a connection for 10 s, so each try during an outage takes that long anyway. */
const RETRY_MS = { first: 500, max: 5_000 };
const CATCH_UP_CONCURRENCY = 8;

export function coalescedStatusWrites<V>(options: StatusWritesOptions<V>): StatusWrites<V> {
  const retryMs = options.retryMs ?? RETRY_MS;
  const concurrency = options.catchUpConcurrency ?? CATCH_UP_CONCURRENCY;
  /** Changes not yet written, per resource and field (in the order each field last changed). */
  const pending = new Map<string, Map<string, V>>();
  const writing = new Map<string, Promise<void>>();
  /** The changes each write under way carries (what would be lost if it never ends). */
  const inFlight = new Map<string, ReadonlyMap<string, V>>();
  let gatherTimer: NodeJS.Timeout | undefined;
  /** Set while the store is unavailable: nothing but one try at a time is written. */
  let outage: { since: number; waitMs: number; timer?: NodeJS.Timeout; trying?: string } | undefined;
  let closing = false;
  /** Set once flush() has named what it left: a write of those that ends later says nothing more. */
  let abandoned = false;

  /** `name` has changes: write them now, after the gathering delay, or once the store is back. */
  const due = (name: string) => {
    if (outage) return;
    if (options.delayMs <= 0) return void start(name);
    gatherTimer ??= setTimeout(() => {
      gatherTimer = undefined;
      if (!outage) for (const n of [...pending.keys()]) void start(n);
    }, options.delayMs);
  };

  function start(name: string): Promise<void> {
    const under = writing.get(name);
    if (under) return under; // its changes go once that write settles
    const changes = pending.get(name);
    if (!changes) return Promise.resolve();
    pending.delete(name);
    inFlight.set(name, changes);
    const done = options
      .write(name, changes)
      .then(
        () => storeAnswered(name),
        (err: unknown) => {
          if (abandoned) return; // (the store closed under it, most likely)
          if (!isStoreUnavailable(err)) {
            options.onError(name, err);
            return storeAnswered(name); // it answered, if only to refuse
          }
          // Back under the changes made meanwhile, which are newer.
          const newer = pending.get(name);
          const kept = new Map(changes);
          for (const [field, value] of newer ?? []) {
            kept.delete(field);
            kept.set(field, value);
          }
          pending.set(name, kept);
          storeUnavailable(name);
        },
      )
      .finally(() => {
        writing.delete(name);
        inFlight.delete(name);
        if (pending.has(name)) due(name);
      });
    writing.set(name, done);
    return done;
  }

  function storeUnavailable(name: string): void {
    if (!outage) outage = { since: Date.now(), waitMs: retryMs.first };
    else if (outage.trying === name) outage.waitMs = Math.min(outage.waitMs * 2, retryMs.max);
    else if (outage.trying !== undefined || outage.timer) return; // a try is already coming
    outage.trying = undefined;
    if (closing) return;
    outage.timer = setTimeout(tryOne, outage.waitMs);
  }

  /** While the store is unavailable: one write, to learn whether it is back. */
  function tryOne(): void {
    if (!outage) return;
    outage.timer = undefined;
    const name = [...pending.keys()].find((n) => !writing.has(n));
    if (name === undefined) {
      // Everything waiting is being written (tries started before the outage was known).
      if (pending.size === 0 && writing.size === 0) outage = undefined;
      else outage.timer = setTimeout(tryOne, outage.waitMs);
      return;
    }
    outage.trying = name;
    void start(name);
  }

  function storeAnswered(answered: string): void {
    if (!outage) return;
    clearTimeout(outage.timer);
    const unavailableMs = Date.now() - outage.since;
    outage = undefined;
    if (closing) return;
    // Every resource waiting, a few at a time: all at once would queue past the pool's timeout.
    const waiting = [...pending.keys()];
    const written = new Set([answered]);
    const next = async (): Promise<void> => {
      for (let name = waiting.shift(); name !== undefined && !outage; name = waiting.shift()) {
        if (!pending.has(name)) continue;
        written.add(name);
        await start(name);
      }
    };
    void Promise.all(Array.from({ length: concurrency }, next)).then(() => {
      if (!outage) options.onCaughtUp?.({ written: written.size, unavailableMs });
    });
  }

  return {
    change(name, field, value) {
      let changes = pending.get(name);
      if (!changes) pending.set(name, (changes = new Map()));
      changes.delete(field); // a later change of a field is written after the others
      changes.set(field, value);
      due(name);
    },
    get pending() {
      let count = pending.size;
      for (const name of writing.keys()) if (!pending.has(name)) count++;
      return count;
    },
    get storeUnavailable() {
      return outage !== undefined;
    },
    async flush(deadline) {
      closing = true;
      clearTimeout(gatherTimer);
      gatherTimer = undefined;
      clearTimeout(outage?.timer);
      // Rounds of writes until nothing is left, the store refuses one, or the deadline. In a known
      // outage a round is one write — the store may be back since the last try — and the rest
      // follow only if it goes through.
      for (;;) {
        const names = [...pending.keys()].filter((name) => !writing.has(name));
        for (const name of outage ? names.slice(0, 1) : names) void start(name);
        // (A write that ends may start the resource's next changes: until none is under way.)
        while (writing.size > 0 && (await settledBy(Promise.all(writing.values()), deadline)));
        if (pending.size === 0 || outage || writing.size > 0 || Date.now() >= deadline) break;
      }
      const unwritten = new Map<string, Set<string>>();
      for (const [name, changes] of [...inFlight, ...pending]) {
        const fields = unwritten.get(name) ?? new Set<string>();
        for (const field of changes.keys()) fields.add(field);
        unwritten.set(name, fields);
      }
      abandoned = unwritten.size > 0;
      return [...unwritten].map(([name, fields]) => ({ name, fields: [...fields] }));
    },
  };
}
