/** GET /metrics: the web process's counters, live-update stats and devices by phase, in Prometheus text. */
import type { Request, Response } from 'express';
import type { WebContext } from './web-context.js';

export function metricsHandler(web: WebContext) {
  const { store, live, counters } = web;
  return (_req: Request, res: Response): void => {
    const devices = store.list('Device');
    const byPhase = new Map<string, number>();
    for (const d of devices) byPhase.set(d.status.phase, (byPhase.get(d.status.phase) ?? 0) + 1);
    const lines = [
      '# HELP wasmbed_web_requests_total HTTP requests served',
      '# TYPE wasmbed_web_requests_total counter',
      `wasmbed_web_requests_total ${counters.requests}`,
      '# TYPE wasmbed_web_errors_total counter',
      `wasmbed_web_errors_total ${counters.errors}`,
      '# HELP wasmbed_web_sse_clients open server-sent-event streams',
      '# TYPE wasmbed_web_sse_clients gauge',
      `wasmbed_web_sse_clients ${live.stats.clients}`,
      '# TYPE wasmbed_web_sse_events_total counter',
      `wasmbed_web_sse_events_total ${live.stats.eventsSent}`,
      '# TYPE wasmbed_web_live_renders_total counter',
      `wasmbed_web_live_renders_total ${live.stats.renders}`,
      '# TYPE wasmbed_web_live_render_ms gauge',
      ...Object.entries(live.stats.lastRenderMs).map(
        ([view, ms]) => `wasmbed_web_live_render_ms{view="${view}"} ${ms}`,
      ),
      '# HELP wasmbed_devices devices by phase',
      '# TYPE wasmbed_devices gauge',
      ...[...byPhase].map(([phase, n]) => `wasmbed_devices{phase="${phase}"} ${n}`),
      '# TYPE process_resident_memory_bytes gauge',
      `process_resident_memory_bytes ${process.memoryUsage().rss}`,
      '# TYPE process_uptime_seconds gauge',
      `process_uptime_seconds ${Math.round(process.uptime())}`,
      ...web
        .health()
        .processes.map(
          (p) => `wasmbed_process_up{process="${p.name}",kind="${p.kind}"} ${p.status === 'ok' ? 1 : 0}`,
        ),
    ];
    res.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n');
  };
}
