/**
 * Health of every platform process as the web process sees it, refreshed in the background
 * so pages render from a snapshot: the web process itself, Temporal (a gRPC round trip), the
 * orchestrator worker (pollers on its task queue), each gateway (its Gateway resource's
 * heartbeat, its worker's pollers, and its own /readyz and /metrics on the health port) and each
 * device host (its heartbeat in the host registry, its devices, its worker's pollers).
 */
import type { Client } from '@temporalio/client';
import { GATEWAY_STALE_MS, HOST_STALE_MS, hostTaskQueue, ORCHESTRATOR_TASK_QUEUE } from '../common/config.js';
import type { Gateway } from '../common/resources.js';
import { hostState } from '../activities/host-placement.js';
import type { HostRecord, HostRegistry } from '../store/host-registry.js';
import type { ResourceStore } from '../store/resource-store.js';

export interface ProcessHealth {
  name: string;
  kind: 'web' | 'temporal' | 'orchestrator' | 'gateway' | 'host';
  status: 'ok' | 'degraded' | 'down' | 'unknown';
  detail: string;
  url?: string;
  metrics?: Record<string, number>;
}

export interface HealthSnapshot {
  checkedAt: string | null;
  processes: ProcessHealth[];
}

export interface HealthMonitorOptions {
  client?: Client;
  namespace?: string;
  store: ResourceStore;
  /** Base URL (http://host:port) of a gateway's health server, if known. */
  gatewayHealthUrl: (gateway: Gateway) => string | undefined;
  /** The device hosts' heartbeats; with `hostGraceMs`, after which a silent host's devices move. */
  hosts?: HostRegistry;
  hostGraceMs?: number;
  /** Extra numbers about the web process (SSE clients, render times). */
  webMetrics?: () => Record<string, number>;
  intervalMs?: number;
}

export { GATEWAY_STALE_MS };
const TASK_QUEUE_TYPE_WORKFLOW = 1;
const TASK_QUEUE_TYPE_ACTIVITY = 2;
const POLLER_FRESH_MS = 120_000;

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Picks the numbers the overview shows out of a Prometheus text exposition. */
export function parseMetrics(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const key = m[1]! + (m[2] ?? '');
    out[key] = value;
  }
  return out;
}

export class HealthMonitor {
  private current: HealthSnapshot = { checkedAt: null, processes: [] };
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<HealthSnapshot>;
  /** Increases whenever the snapshot's content changes; live pages re-render on it. */
  version = 0;

  constructor(private readonly options: HealthMonitorOptions) {}

  start(): this {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.intervalMs ?? 3000);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  snapshot(): HealthSnapshot {
    return this.current;
  }

  refresh(): Promise<HealthSnapshot> {
    this.refreshing ??= this.check()
      // The store unreachable (a database restarting): keep showing the last snapshot.
      .catch(() => this.current)
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  private async check(): Promise<HealthSnapshot> {
    const [temporal, orchestrator, gateways, hosts] = await Promise.all([
      this.checkTemporal(),
      this.checkOrchestrator(),
      this.options.store.list('Gateway').then((list) => Promise.all(list.map((g) => this.checkGateway(g)))),
      (this.options.hosts?.list() ?? Promise.resolve([])).then((list) =>
        Promise.all(list.map((h) => this.checkHost(h))),
      ),
    ]);
    const processes = [this.checkWeb(), temporal, orchestrator, ...gateways, ...hosts];
    const digest = JSON.stringify(processes.map(({ metrics: _m, ...p }) => p));
    const before = JSON.stringify(this.current.processes.map(({ metrics: _m, ...p }) => p));
    if (digest !== before) this.version++;
    this.current = { checkedAt: new Date().toISOString(), processes };
    return this.current;
  }

  private checkWeb(): ProcessHealth {
    const mem = process.memoryUsage();
    return {
      name: 'web',
      kind: 'web',
      status: 'ok',
      detail: `up ${Math.round(process.uptime())} s`,
      url: '/healthz',
      metrics: {
        rss_bytes: mem.rss,
        heap_used_bytes: mem.heapUsed,
        ...(this.options.webMetrics?.() ?? {}),
      },
    };
  }

  private async checkTemporal(): Promise<ProcessHealth> {
    const client = this.options.client;
    if (!client) return { name: 'temporal', kind: 'temporal', status: 'unknown', detail: 'no client' };
    const started = Date.now();
    try {
      await withTimeout(client.workflowService.getSystemInfo({}), 2000, 'Temporal');
      return {
        name: 'temporal',
        kind: 'temporal',
        status: 'ok',
        detail: `reachable (${Date.now() - started} ms)`,
        metrics: { rtt_ms: Date.now() - started },
      };
    } catch (err) {
      return { name: 'temporal', kind: 'temporal', status: 'down', detail: `unreachable: ${String(err)}` };
    }
  }

  private async pollers(taskQueue: string, type: number): Promise<number> {
    const client = this.options.client!;
    const res = await withTimeout(
      client.workflowService.describeTaskQueue({
        namespace: this.options.namespace ?? 'default',
        taskQueue: { name: taskQueue },
        taskQueueType: type,
      }),
      2000,
      'describeTaskQueue',
    );
    const now = Date.now();
    return (res.pollers ?? []).filter((p) => {
      const seconds = Number(String(p.lastAccessTime?.seconds ?? 0));
      return now - seconds * 1000 < POLLER_FRESH_MS;
    }).length;
  }

  /** Fresh workflow and activity pollers of a task queue that runs both (a worker's). */
  private async queuePollers(taskQueue: string): Promise<{ workflow: number; activity: number }> {
    const [workflow, activity] = await Promise.all([
      this.pollers(taskQueue, TASK_QUEUE_TYPE_WORKFLOW),
      this.pollers(taskQueue, TASK_QUEUE_TYPE_ACTIVITY),
    ]);
    return { workflow, activity };
  }

  private async checkOrchestrator(): Promise<ProcessHealth> {
    const base = { name: 'orchestrator', kind: 'orchestrator' as const };
    if (!this.options.client) return { ...base, status: 'unknown', detail: 'no Temporal client' };
    try {
      const { workflow, activity } = await this.queuePollers(ORCHESTRATOR_TASK_QUEUE);
      const status = workflow > 0 && activity > 0 ? 'ok' : workflow + activity > 0 ? 'degraded' : 'down';
      return {
        ...base,
        status,
        detail: `${workflow} workflow / ${activity} activity pollers on ${ORCHESTRATOR_TASK_QUEUE}`,
        metrics: { workflow_pollers: workflow, activity_pollers: activity },
      };
    } catch (err) {
      return { ...base, status: 'unknown', detail: `cannot ask Temporal: ${String(err)}` };
    }
  }

  private async checkGateway(gateway: Gateway): Promise<ProcessHealth> {
    const name = gateway.metadata.name;
    const lastSeen = gateway.status.lastSeen ? Date.parse(gateway.status.lastSeen) : 0;
    const age = Date.now() - lastSeen;
    const notes: string[] = [];
    let status: ProcessHealth['status'] = 'ok';
    if (gateway.status.phase !== 'Ready') {
      status = 'down';
      notes.push(`phase ${gateway.status.phase}`);
    } else if (age > GATEWAY_STALE_MS) {
      status = 'down';
      notes.push(`last seen ${Math.round(age / 1000)} s ago`);
    }
    const metrics: Record<string, number> = { connected_devices: gateway.status.connectedDevices };
    const url = this.options.gatewayHealthUrl(gateway);
    if (url && status === 'ok') {
      try {
        const ready = await withTimeout(fetch(`${url}/readyz`), 1500, 'readyz');
        const body = (await ready.json()) as { status?: string; sessions?: number };
        if (!ready.ok) {
          status = 'degraded';
          notes.push(`readyz ${ready.status} ${body.status ?? ''}`);
        }
        if (typeof body.sessions === 'number') metrics.sessions = body.sessions;
        const text = await (await withTimeout(fetch(`${url}/metrics`), 1500, 'metrics')).text();
        const parsed = parseMetrics(text);
        for (const [key, value] of Object.entries(parsed)) {
          if (/^wasmbed_gateway_\w+(\{gateway="[^"]*"\})?$/.test(key)) {
            metrics[key.replace(/^wasmbed_gateway_/, '').replace(/\{.*$/, '')] = value;
          }
        }
      } catch (err) {
        status = 'degraded';
        notes.push(`health port unreachable: ${String(err)}`);
      }
    } else if (!url) {
      notes.push('health port unknown');
    }
    if (this.options.client && gateway.status.taskQueue && status !== 'down') {
      try {
        const pollers = await this.pollers(gateway.status.taskQueue, TASK_QUEUE_TYPE_ACTIVITY);
        metrics.activity_pollers = pollers;
        if (pollers === 0) {
          status = 'degraded';
          notes.push('no worker polling its task queue');
        }
      } catch {
        // Temporal's own row says why
      }
    }
    return {
      name,
      kind: 'gateway',
      status,
      detail: notes.length
        ? notes.join('; ')
        : `ready, ${metrics.sessions ?? gateway.status.connectedDevices} sessions`,
      url: url ? `${url}/metrics` : undefined,
      metrics,
    };
  }

  /**
   * ok while it beats; degraded once silent beyond HOST_STALE_MS (new devices go elsewhere) or
   * with no worker on its queue; down once silent beyond the grace period, when its devices'
   * lifecycles bring them back on a live host.
   */
  private async checkHost(host: HostRecord): Promise<ProcessHealth> {
    const now = Date.now();
    const graceMs = this.options.hostGraceMs ?? Infinity;
    const silentS = Math.round((now - host.lastSeen) / 1000);
    const notes: string[] = [];
    let status: ProcessHealth['status'] = 'ok';
    const state = hostState(host, now, { staleMs: HOST_STALE_MS, graceMs });
    if (state === 'dead') {
      status = 'down';
      notes.push(`silent for ${silentS} s: its devices move to live hosts`);
    } else if (state === 'silent') {
      status = 'degraded';
      notes.push(`silent for ${silentS} s: new devices go elsewhere`);
    }
    const metrics: Record<string, number> = { devices: host.devices };
    if (this.options.client && status === 'ok') {
      try {
        const taskQueue = hostTaskQueue(host.id);
        const { workflow, activity } = await this.queuePollers(taskQueue);
        Object.assign(metrics, { workflow_pollers: workflow, activity_pollers: activity });
        if (workflow === 0 || activity === 0) {
          status = 'degraded';
          notes.push(`no worker polling ${taskQueue}`);
        }
      } catch {
        // Temporal's own row says why
      }
    }
    const restarted = host.restartedAt > 0 && now - host.restartedAt < graceMs;
    if (restarted && status === 'ok') {
      notes.push(`restarted ${Math.round((now - host.restartedAt) / 1000)} s ago`);
    }
    return {
      name: host.id,
      kind: 'host',
      status,
      detail: [`${host.devices} devices, pid ${host.pid}`, ...notes].join('; '),
      metrics,
    };
  }
}
