/**
 * LISTEN side of a change feed: one dedicated connection per feed (not a pooled one: a pooled
 * connection goes back to the pool, a LISTEN must stay), the channel's notifications parsed and
 * handed to the subscribers. Writers `NOTIFY` in the transaction that makes the change, so a
 * notification arrives only for a committed change, and after it is visible.
 *
 * When the connection is lost (PostgreSQL restarting, a network cut) the feed reconnects with
 * backoff and, once it LISTENs again, asks `resync` for what changed since the last revision it
 * saw, so nothing that happened while it was deaf is missed. LISTEN comes first, then the
 * catch-up query: a change committed in between shows up twice, never zero times.
 */
import pg from 'pg';
import { errorMessage } from '../../common/errors.js';

/** What a notification carries; `revision` orders them and says where a catch-up starts. */
export interface FeedEvent {
  revision: number;
}

export interface ChangeFeedOptions<E extends FeedEvent> {
  url: string;
  /** A plain identifier (it is written into LISTEN as it is). */
  channel: string;
  parse: (payload: string) => E | undefined;
  /** Everything after `revision`, read after the feed LISTENs again. */
  resync: (sinceRevision: number) => Promise<E[]>;
  /** The revision the feed starts from (read once LISTEN is in place). */
  currentRevision: () => Promise<number>;
  /** Reports connection trouble (the feed keeps retrying). */
  onError?: (message: string) => void;
}

export class ChangeFeed<E extends FeedEvent> {
  private client: pg.Client | undefined;
  private readonly subscribers = new Set<(event: E) => void>();
  /** Highest revision delivered: a catch-up after a reconnect starts after it. */
  private seen = 0;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readyPromise: Promise<void> | undefined;

  constructor(private readonly options: ChangeFeedOptions<E>) {
    if (!/^[a-z_][a-z0-9_]*$/.test(options.channel)) throw new Error(`bad channel name "${options.channel}"`);
  }

  /** Connects and LISTENs (once); resolves when notifications flow. */
  start(): Promise<void> {
    this.readyPromise ??= this.connect().then(async () => {
      this.seen = await this.options.currentRevision();
    });
    return this.readyPromise;
  }

  subscribe(listener: (event: E) => void): () => void {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.url, application_name: 'wasmbed-feed' });
    client.on('notification', (message) => {
      if (message.channel !== this.options.channel || message.payload === undefined) return;
      const event = this.options.parse(message.payload);
      if (event) this.deliver(event);
    });
    // 'error' then 'end' on a lost connection; either starts the reconnect (once).
    let lost = false;
    const onLost = (err?: Error) => {
      // Only the feed's current connection reconnects: one dropped on purpose does not.
      if (lost || this.closed || this.client !== client) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      this.options.onError?.(`change feed connection lost: ${err ? errorMessage(err) : 'closed'}`);
      client.end().catch(() => {});
      this.scheduleReconnect(250);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    try {
      await client.connect();
      await client.query(`LISTEN ${this.options.channel}`);
    } catch (err) {
      lost = true;
      client.end().catch(() => {});
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      void this.reconnect(delayMs);
    }, delayMs);
    this.reconnectTimer.unref();
  }

  private async reconnect(delayMs: number): Promise<void> {
    try {
      await this.connect();
      const missed = await this.options.resync(this.seen);
      for (const event of missed) this.deliver(event);
    } catch (err) {
      this.options.onError?.(`change feed cannot reconnect yet: ${errorMessage(err)}`);
      // The connection may be up while the catch-up failed: drop it and start over.
      const client = this.client;
      this.client = undefined;
      await client?.end().catch(() => {});
      this.scheduleReconnect(Math.min(delayMs * 2, 5_000));
    }
  }

  private deliver(event: E): void {
    if (event.revision > this.seen) this.seen = event.revision;
    for (const listener of this.subscribers) {
      try {
        listener(event);
      } catch (err) {
        // One subscriber's bug must not starve the others of events.
        this.options.onError?.(`change feed subscriber threw: ${errorMessage(err)}`);
      }
    }
  }
}
