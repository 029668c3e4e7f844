/**
 * Live pages over server-sent events. Each open view (a topic: "devices?phase=Failed",
 * "device/dev-1", "topology", …) watches the store's change feed for what it shows (a device
 * page its device, the devices list the Device kind); a change in that scope marks it, and on
 * the next tick it is rendered once and the HTML fragments are sent to every page showing it,
 * only if they changed. A heartbeat of one device re-renders that device's views, not the
 * others'. A slow render widens that topic's interval, so a big fleet cannot starve the server.
 * A page's stream starts from the view the page was rendered with (pageStream), so its first
 * events are what changed since, not the whole view again.
 */
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import type { ResourceStore, WatchScope } from '../store/resource-store.js';
import { changes, digestOf, sseEvent, wholeView, type Fragments, type ViewDigest } from './view-diff.js';

interface Client {
  res: Response;
  /** Extra per-client work on every tick (a log follower). */
  onTick?: () => Promise<void> | void;
  /** A previous onTick still running: the next tick skips it. */
  ticking?: boolean;
  /**
   * What the page holds while it is not yet at the topic's last render (it joined before that
   * render ended): the view its HTML was rendered with, or 'unknown' (it gets the whole view).
   */
  holds?: ViewDigest | 'unknown';
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
  /** The last render, for pages that join, and its digest, which the next render is told from. */
  last?: { fragments: Fragments; digest: ViewDigest };
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

/** A page's stream URL names the view it was rendered with by this query parameter. */
const RENDERED_PARAM = 'rendered';
/** How long a rendered view waits for its page's stream, and how many may wait. */
const RENDERED_TTL_MS = 60_000;
const RENDERED_MAX = 500;

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

export class LiveHub {
  private readonly topics = new Map<string, Topic>();
  /**
   * Views pages were rendered with, by the token their stream URL carries, until the stream
   * opens: its first events are then what changed since, not the whole view again (~110 kB on
   * /devices at 300 devices). Each is taken once: a stream reopened with the same URL (after a
   * lost connection, or after an action's answer replaced part of the page) has moved on from
   * it, and gets the whole view.
   */
  private readonly rendered = new Map<string, { key: string; digest: ViewDigest; at: number }>();
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
    this.rendered.clear();
  }

  /**
   * Remembers the fragments a page was rendered with (its view's, by the same render as its
   * stream's) and answers the page's stream URL naming them, so that the stream starts from there.
   */
  pageStream(key: string, fragments: Fragments, streamUrl: string): string {
    const now = Date.now();
    for (const [token, r] of this.rendered) {
      if (now - r.at < RENDERED_TTL_MS && this.rendered.size < RENDERED_MAX) break;
      this.rendered.delete(token); // oldest first: pages that never opened their stream
    }
    const token = randomBytes(9).toString('base64url');
    this.rendered.set(token, { key, digest: digestOf(fragments), at: now });
    return `${streamUrl}${streamUrl.includes('?') ? '&' : '?'}${RENDERED_PARAM}=${token}`;
  }

  /** The view a stream's page was rendered with, if its URL names one still remembered. */
  private takeRendered(req: Request, key: string): ViewDigest | undefined {
    const token = req.query[RENDERED_PARAM];
    if (typeof token !== 'string') return undefined;
    const r = this.rendered.get(token);
    this.rendered.delete(token);
    return r && r.key === key ? r.digest : undefined;
  }

  /**
   * Serves one page's stream: first what changed since the page was rendered (the whole view if
   * that is not known), then a `synced` event naming the view's elements, then every change.
   */
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
    const client: Client = {
      res,
      onTick: onTick && (() => onTick(res)),
      holds: this.takeRendered(req, key) ?? 'unknown',
    };
    topic.clients.add(client);
    this.stats.clients++;
    this.stats.topics = this.topics.size;
    // A render under way ends with this page's catch-up; a new topic renders now.
    if (topic.last && !topic.rendering) this.catchUp(client, topic.last);
    else if (!topic.rendering) void this.renderTopic(topic, true);
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

  /** Takes a page that just joined from what it holds to the topic's last render. */
  private catchUp(client: Client, last: { fragments: Fragments; digest: ViewDigest }): void {
    const holds = client.holds;
    client.holds = undefined;
    const events =
      holds === 'unknown' ? wholeView(last.fragments) : changes(holds!, last.digest, last.fragments);
    this.send(client, events + sseEvent('synced', { ids: Object.keys(last.fragments) }));
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
      // Send only what changed, so a button the operator is about to press is not replaced
      // under the pointer because a heartbeat time changed elsewhere.
      const digest = digestOf(fragments);
      const chunk = topic.last ? changes(topic.last.digest, digest, fragments) : '';
      topic.last = { fragments, digest };
      for (const client of topic.clients) {
        if (client.holds) this.catchUp(client, topic.last);
        else if (chunk) this.send(client, chunk);
      }
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
