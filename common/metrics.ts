/**
 * Prometheus metrics of this process (prom-client). One registry per process holds the default
 * process metrics (CPU, memory, event loop lag, GC) and every `wasmbed_*` metric the process's
 * modules define; `metricsText()` renders it with any extra registries (a gateway's own) for the
 * `/metrics` endpoint. Labels are bounded: never a device or application name.
 */
import http from 'node:http';
import client, { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const processRegistry = new Registry();
let defaultsCollected = false;

/** The process metrics every Wasmbed process exports (idempotent). */
export function collectProcessMetrics(component: string): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  processRegistry.setDefaultLabels({ component });
  client.collectDefaultMetrics({ register: processRegistry });
}

/** Seconds buckets from 1 ms to 2 min: activities, requests and steps all fit. */
export const DURATION_BUCKETS_SECONDS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
];

type Config<T extends string> = { name: string; help: string; labelNames?: readonly T[] };

/**
 * A module that is instantiated twice in one process (tests build activities more than once)
 * gets the metric the first one registered instead of a duplicate-name error.
 */
function existing<M>(name: string, registry: Registry): M | undefined {
  return registry.getSingleMetric(name) as M | undefined;
}

export function counter<T extends string>(config: Config<T>, registry = processRegistry): Counter<T> {
  return existing(config.name, registry) ?? new Counter({ ...config, registers: [registry] });
}

/**
 * A counter whose total lives elsewhere (a plain number bumped on a hot path) and is read when
 * scraped: no prom-client call per event.
 */
export function counterReading(
  config: { name: string; help: string; read: () => number },
  registry = processRegistry,
): Counter {
  const { read, ...rest } = config;
  return (
    existing(config.name, registry) ??
    new Counter({
      ...rest,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    })
  );
}

export function gauge<T extends string>(
  config: Config<T> & { collect?: (this: Gauge<T>) => void | Promise<void> },
  registry = processRegistry,
): Gauge<T> {
  return existing(config.name, registry) ?? new Gauge({ ...config, registers: [registry] });
}

export function histogram<T extends string>(
  config: Config<T> & { buckets?: number[] },
  registry = processRegistry,
): Histogram<T> {
  return (
    existing(config.name, registry) ??
    new Histogram({ buckets: DURATION_BUCKETS_SECONDS, ...config, registers: [registry] })
  );
}

export const METRICS_CONTENT_TYPE = processRegistry.contentType;

/** The exposition of the process registry followed by `extra` registries (names never overlap). */
export async function metricsText(extra: Registry[] = []): Promise<string> {
  const parts = await Promise.all([processRegistry, ...extra].map((r) => r.metrics()));
  return parts.join('\n');
}

/** Answers `GET /metrics`; false when the request is for something else. */
export async function serveMetrics(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  extra: Registry[] = [],
): Promise<boolean> {
  if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/metrics') return false;
  try {
    const body = await metricsText(extra);
    res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(body);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`);
  }
  return true;
}
