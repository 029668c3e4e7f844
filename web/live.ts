/**
 * Live pages over server-sent events. Each open view (a topic: "devices?phase=Failed",
 * "device/dev-1", "topology", …) watches the store's change feed for what it shows (a device
 * page its device, the devices list the Device kind); a change in that scope marks it, and on
 * the next tick it is rendered once and the HTML fragments are sent to every page showing it,
 * only if they changed. A heartbeat of one device re-renders that device's views, not the
 * others'. A slow render widens that topic's interval, so a big fleet cannot starve the server.
 */
import type { Request, Response } from 'express';
import type { ResourceStore, WatchScope } from '../store/resource-store.js';

/** Rows of a table keyed by their element id, so a change sends only the rows that changed. */
export interface KeyedRows {
  rows: [id: string, html: string][];
  /** What the table shows when it has no rows. */
  empty: string;
}

/** Element id → inner HTML to put there, or keyed rows for a table body. */
export type Fragments = Record<string, string | KeyedRows>;

const isKeyed = (v: string | KeyedRows): v is KeyedRows => typeof v !== 'string';
const joined = (v: string | KeyedRows) =>
  isKeyed(v) ? (v.rows.length ? v.rows.map((r) => r[1]).join('') : v.empty) : v;

/** The full fragments as plain HTML (for a page that just joined). */
function flatten(fragments: Fragments): Record<string, string> {
  return Object.fromEntries(Object.entries(fragments).map(([id, v]) => [id, joined(v)]));
}

interface Client {
  res: Response;
  /** Extra per-client work on every tick (a log follower). */
  onTick?: () => Promise<void> | void;
  /** A previous onTick still running: the next tick skips it. */
  ticking?: boolean;
}

/** One view's stream, as a route asks for it. */
export interface LiveView {
  /** The view and its parameters: pages showing the same key share one render. */
  key: string;
  render: () => Promise<Fragments> | Fragments;
  /** The store changes that can alter what the view shows; none: it follows time only. */
  watch: WatchScope[];
  /** Extra per-client work on every tick (a log follower). */
  onTick?: (res: Response) => Promise<void> | void;
  /**
   * Render no more often than this, whatever changes: for a view that is sent whole and large
   * on any change in a busy scope (the fleet's topology).
   */
  minIntervalMs?: number;
}

interface Topic {
  key: string;
  render: () => Promise<Fragments> | Fragments;
  minIntervalMs: number;
  clients: Set<Client>;
  /** Stops the topic's watches of the store. */
  unwatch: () => void;
  /** A change in the topic's scope since its last render began. */
  dirty: boolean;
  /** The full set last rendered, as an event for pages that join. */
  last?: string;
  lastFragments: Record<string, string>;
  lastRows: Map<string, Map<string, string>>;
  lastOrder: Map<string, string>;
  lastExtra: number;
  renderedAt: number;
  renderMs: number;
  rendering: boolean;
}

export interface LiveStats {
  clients: number;
  topics: number;
  renders: number;
  eventsSent: number;
  bytesSent: number;
  lastRenderMs: Record<string, number>;
}

export function openEventStream(req: Request, res: Response): void {
  res.status(200);
  res.setHeader('content-type', 'text/event-stream; charset=utf-8');
  res.setHeader('cache-control', 'no-cache, no-transform');
  res.setHeader('connection', 'keep-alive');
  res.setHeader('x-accel-buffering', 'no');
  res.flushHeaders();
  req.socket.setNoDelay(true);
  res.write('retry: 1000\n\n');
}

export function sseEvent(event: string, data: unknown, id?: number | string): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class LiveHub {
  private readonly topics = new Map<string, Topic>();
  private timer?: NodeJS.Timeout;
  private keepAlive?: NodeJS.Timeout;
  readonly stats: LiveStats = {
    clients: 0,
    topics: 0,
    renders: 0,
    eventsSent: 0,
    bytesSent: 0,
    lastRenderMs: {},
  };

  constructor(
    private readonly store: ResourceStore,
    private readonly options: {
      intervalMs?: number;
      /** Something other than the store that should re-render views (health). */
      extraVersion?: () => number;
      /** Re-render at least this often even when nothing changed (ages, health). */
      maxIdleMs?: number;
    } = {},
  ) {}

  start(): this {
    this.timer = setInterval(() => this.tick(), this.options.intervalMs ?? 200);
    this.keepAlive = setInterval(() => this.broadcastRaw(': keep-alive\n\n'), 15_000);
    this.timer.unref();
    this.keepAlive.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.keepAlive);
    for (const topic of this.topics.values()) {
      topic.unwatch();
      for (const c of topic.clients) c.res.end();
    }
    this.topics.clear();
  }

  /** Serves one page's stream: the current fragments at once, then every change. */
  subscribe(req: Request, res: Response, view: LiveView): void {
    const { key, render, onTick } = view;
    openEventStream(req, res);
    let topic = this.topics.get(key);
    if (!topic) {
      const created: Topic = {
        key,
        render,
        minIntervalMs: view.minIntervalMs ?? 0,
        clients: new Set(),
        unwatch: () => undefined,
        dirty: false,
        lastFragments: {},
        lastRows: new Map(),
        lastOrder: new Map(),
        lastExtra: -1,
        renderedAt: 0,
        renderMs: 0,
        rendering: false,
      };
      // Watching starts before the first render: a change while it renders is not missed.
      const stops = view.watch.map((scope) => this.store.watch(scope, () => (created.dirty = true)));
      created.unwatch = () => stops.forEach((stop) => stop());
      topic = created;
      this.topics.set(key, topic);
    }
    const joined = topic;
    const client: Client = { res, onTick: onTick && (() => onTick(res)) };
    topic.clients.add(client);
    this.stats.clients++;
    this.stats.topics = this.topics.size;
    if (topic.last) this.send(client, topic.last);
    else void this.renderTopic(topic, true);
    const close = () => {
      if (!joined.clients.delete(client)) return;
      this.stats.clients--;
      if (joined.clients.size === 0) {
        joined.unwatch();
        this.topics.delete(key);
      }
      this.stats.topics = this.topics.size;
    };
    res.on('close', close);
    req.on('close', close);
  }

  get clientCount(): number {
    return this.stats.clients;
  }

  private send(client: Client, chunk: string): void {
    client.res.write(chunk);
    this.stats.eventsSent++;
    this.stats.bytesSent += chunk.length;
  }

  private broadcastRaw(chunk: string): void {
    for (const topic of this.topics.values()) for (const c of topic.clients) c.res.write(chunk);
  }

  /** Renders every open view whose inputs moved (public so benchmarks can drive it). */
  tick(): void {
    if (this.topics.size === 0) return;
    const extra = this.options.extraVersion?.() ?? 0;
    const now = Date.now();
    const interval = this.options.intervalMs ?? 200;
    for (const topic of this.topics.values()) {
      for (const c of topic.clients) this.runOnTick(c);
      if (topic.rendering) continue;
      const changed = topic.dirty || extra !== topic.lastExtra;
      const idle = now - topic.renderedAt > (this.options.maxIdleMs ?? 5000);
      if (!changed && !idle) continue;
      if (now - topic.renderedAt < Math.max(interval, topic.renderMs * 4, topic.minIntervalMs)) continue;
      topic.lastExtra = extra;
      void this.renderTopic(topic, false);
    }
  }

  private runOnTick(client: Client): void {
    if (!client.onTick || client.ticking) return;
    client.ticking = true;
    Promise.resolve()
      .then(client.onTick)
      .catch((err: unknown) => this.send(client, sseEvent('problem', { message: String(err) })))
      .finally(() => (client.ticking = false));
  }

  private async renderTopic(topic: Topic, initial: boolean): Promise<void> {
    topic.rendering = true;
    const started = performance.now();
    try {
      topic.dirty = false; // a change from here on renders again
      if (initial) topic.lastExtra = this.options.extraVersion?.() ?? 0;
      const fragments = await topic.render();
      this.stats.renders++;
      // Send only the fragments that changed, so a button the operator is about to press is
      // not replaced under the pointer because a heartbeat time changed elsewhere.
      const changed: Record<string, string> = {};
      const patches: string[] = [];
      const flat = flatten(fragments);
      for (const [id, value] of Object.entries(fragments)) {
        if (isKeyed(value) && !initial && topic.lastRows.has(id)) {
          const before = topic.lastRows.get(id)!;
          const after = new Map(value.rows);
          const upsert: Record<string, string> = {};
          for (const [rowId, html] of value.rows) if (before.get(rowId) !== html) upsert[rowId] = html;
          const remove = [...before.keys()].filter((rowId) => !after.has(rowId));
          const order = value.rows.map((r) => r[0]).join('\n');
          const reordered = order !== topic.lastOrder.get(id);
          if (Object.keys(upsert).length || remove.length || reordered) {
            patches.push(
              sseEvent('rows', {
                target: id,
                upsert,
                remove,
                order: reordered ? value.rows.map((r) => r[0]) : undefined,
                empty: value.rows.length ? undefined : value.empty,
              }),
            );
          }
          topic.lastRows.set(id, after);
          topic.lastOrder.set(id, order);
          continue;
        }
        if (isKeyed(value)) {
          topic.lastRows.set(id, new Map(value.rows));
          topic.lastOrder.set(id, value.rows.map((r) => r[0]).join('\n'));
        }
        if (initial || topic.lastFragments[id] !== flat[id]) changed[id] = flat[id]!;
      }
      topic.lastFragments = flat;
      topic.last = sseEvent('swap', flat);
      const chunk = (Object.keys(changed).length ? sseEvent('swap', changed) : '') + patches.join('');
      if (!chunk) return;
      for (const client of topic.clients) this.send(client, chunk);
    } catch (err) {
      for (const client of topic.clients) this.send(client, sseEvent('problem', { message: String(err) }));
    } finally {
      topic.renderMs = performance.now() - started;
      topic.renderedAt = Date.now();
      this.stats.lastRenderMs[topic.key.split('?')[0]!] = Math.round(topic.renderMs * 100) / 100;
      topic.rendering = false;
    }
  }
}
