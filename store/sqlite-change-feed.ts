/**
 * The SQLite store's change feed. Every write of a resource appends a row (kind, name, event
 * type) to `resource_changes` in the same transaction, so the log holds exactly the committed
 * writes, in commit order (seq). Each process polls the table (the web, worker and gateways are
 * separate processes sharing the file: nothing else would tell one of another's writes) and hands
 * each watcher the rows in its scope; a write of this process triggers a poll at once. Rows
 * older than the retention are trimmed by whoever writes or polls.
 */
import type Database from 'better-sqlite3';
import type { ResourceKind } from '../common/resources.js';
import { inScope, type StoreEvent, type WatchScope } from './resource-store.js';
import type { SqliteDatabase } from './sqlite.js';

export interface ChangeFeedOptions {
  /** How often watchers look for other processes' writes (ms). */
  pollMs?: number;
  /** How long a change stays in the log (ms): longer than any watcher may fall behind. */
  retentionMs?: number;
}

interface Watcher {
  scope: WatchScope;
  listener: (event: StoreEvent) => void;
  /** Changes up to this seq happened before the watcher started. */
  after: number;
}

interface ChangeRow {
  seq: number;
  kind: ResourceKind;
  name: string;
  type: StoreEvent['type'];
}

/** Rows read per poll: a burst larger than this is delivered over several polls, in order. */
const BATCH = 1000;
/** Trim every this many writes of one process (and on every 100th poll). */
const TRIM_EVERY = 500;

export class SqliteChangeFeed {
  private readonly watchers = new Set<Watcher>();
  private readonly pollMs: number;
  private readonly retentionMs: number;
  private readonly insert: Database.Statement<[string, string, string, number]>;
  private readonly since: Database.Statement<[number, number], ChangeRow>;
  private readonly last: Database.Statement<[], { seq: number | null }>;
  private readonly trimOlder: Database.Statement<[number]>;
  private cursor = 0;
  private timer?: NodeJS.Timeout;
  private soon?: NodeJS.Immediate;
  private writes = 0;
  private polls = 0;
  private closed = false;

  constructor(
    private readonly db: SqliteDatabase,
    options: ChangeFeedOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 100;
    this.retentionMs = options.retentionMs ?? 10 * 60_000;
    db.exec(`
      CREATE TABLE IF NOT EXISTS resource_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED')),
        at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS resource_changes_by_time ON resource_changes (at);
    `);
    this.insert = db.prepare('INSERT INTO resource_changes (kind, name, type, at) VALUES (?, ?, ?, ?)');
    this.since = db.prepare(
      'SELECT seq, kind, name, type FROM resource_changes WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    this.last = db.prepare('SELECT max(seq) AS seq FROM resource_changes');
    this.trimOlder = db.prepare('DELETE FROM resource_changes WHERE at < ?');
  }

  /** Records one change; call it inside the transaction of the write. */
  record(kind: ResourceKind, name: string, type: StoreEvent['type']): void {
    this.insert.run(kind, name, type, Date.now());
    if (++this.writes % TRIM_EVERY === 0) this.trim();
  }

  /** After a committed write of this process: its watchers hear of it without waiting for the timer. */
  committed(): void {
    if (this.watchers.size === 0 || this.soon || this.closed) return;
    this.soon = setImmediate(() => {
      this.soon = undefined;
      this.poll();
    });
  }

  watch(scope: WatchScope, listener: (event: StoreEvent) => void): () => void {
    if (this.closed) throw new Error('the store is closed');
    const after = this.last.get()?.seq ?? 0;
    if (this.watchers.size === 0) {
      this.cursor = after;
      this.timer = setInterval(() => this.poll(), this.pollMs);
      this.timer.unref();
    }
    const watcher: Watcher = { scope: { ...scope }, listener, after };
    this.watchers.add(watcher);
    return () => {
      this.watchers.delete(watcher);
      if (this.watchers.size === 0) this.stopPolling();
    };
  }

  /** Reads the changes since the last poll and hands them to the watchers in scope. */
  poll(): void {
    if (this.watchers.size === 0 || this.closed) return;
    let rows: ChangeRow[];
    do {
      rows = this.since.all(this.cursor, BATCH);
      for (const row of rows) {
        this.cursor = row.seq;
        const event: StoreEvent = { type: row.type, kind: row.kind, name: row.name };
        for (const w of this.watchers) {
          if (row.seq <= w.after || !inScope(w.scope, event)) continue;
          try {
            w.listener(event);
          } catch (err) {
            // A listener's bug must not cost the other watchers their events.
            process.emitWarning(err instanceof Error ? err : new Error(String(err)));
          }
        }
      }
    } while (rows.length === BATCH);
    if (++this.polls % 100 === 0) this.trim();
  }

  private trim(): void {
    this.trimOlder.run(Date.now() - this.retentionMs);
  }

  private stopPolling(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.soon) clearImmediate(this.soon);
    this.soon = undefined;
  }

  close(): void {
    this.closed = true;
    this.watchers.clear();
    this.stopPolling();
  }
}
