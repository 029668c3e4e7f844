/**
 * The web process's own metrics on prom-client: requests, errors, live (SSE) streams and render
 * times, and the up/down of each platform process as the health monitor sees it, read from the
 * counters the app keeps when scraped; and GET /metrics, which serves the process registry
 * (these, the fleet gauges of web/fleet-metrics.ts, the process metrics). The metrics port
 * (platform/telemetry.ts) serves the same registry without the API token, for Prometheus.
 */
import type { Request, Response } from 'express';
import { counterReading, gauge, serveMetrics } from '../common/metrics.js';
import type { HealthSnapshot } from './health.js';
import type { LiveStats } from './live.js';
import type { WebContext } from './web-context.js';

export function registerWebMetrics(sources: {
  counters: { requests: number; errors: number };
  live: LiveStats;
  health: () => HealthSnapshot;
}): void {
  const { counters, live } = sources;
  const fromValue = (name: string, help: string, read: () => number) => counterReading({ name, help, read });
  fromValue('wasmbed_web_requests_total', 'HTTP requests served', () => counters.requests);
  fromValue('wasmbed_web_errors_total', 'HTTP requests answered 500', () => counters.errors);
  fromValue(
    'wasmbed_web_sse_events_total',
    'Server-sent events written to live pages',
    () => live.eventsSent,
  );
  fromValue('wasmbed_web_live_renders_total', 'Live fragment renders', () => live.renders);
  gauge({
    name: 'wasmbed_web_sse_clients',
    help: 'Open server-sent-event streams',
    collect() {
      this.set(live.clients);
    },
  });
  gauge({
    name: 'wasmbed_web_live_render_seconds',
    help: 'Duration of the last render of each live view',
    labelNames: ['view'] as const,
    collect() {
      for (const [view, ms] of Object.entries(live.lastRenderMs)) this.set({ view }, ms / 1000);
    },
  });
  gauge({
    name: 'wasmbed_process_up',
    help: 'Platform processes as the web process sees them (1 ok, 0 otherwise)',
    labelNames: ['process', 'kind'] as const,
    collect() {
      this.reset();
      for (const p of sources.health().processes)
        this.set({ process: p.name, kind: p.kind }, p.status === 'ok' ? 1 : 0);
    },
  });
}

export function metricsHandler(web: WebContext) {
  registerWebMetrics({ counters: web.counters, live: web.live.stats, health: web.health });
  return async (req: Request, res: Response): Promise<void> => {
    await serveMetrics(req, res);
  };
}
