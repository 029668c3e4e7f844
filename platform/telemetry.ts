/**
 * Observability every platform process starts with one call (`await startTelemetry('web')`):
 * prom-client's process metrics and this process's `wasmbed_*` metrics on `/metrics`, the
 * Temporal SDK's own metrics (Runtime telemetry, Prometheus) and JSON logs for processes that run
 * a Temporal worker, and OpenTelemetry tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set.
 *
 * Addresses (docs/observability.md): `WASMBED_METRICS_HOST` (default 127.0.0.1), and per process
 * `WASMBED_<PROCESS>_METRICS_PORT` / `WASMBED_<PROCESS>_TEMPORAL_METRICS_PORT` with the defaults in
 * METRICS_PORTS. The gateway serves its metrics on its health port instead.
 */
import http from 'node:http';
import { ValidationError } from '../common/errors.js';
import { closeServer, listen } from '../common/http-server.js';
import { createLogger, rootLogger, type Logger } from '../common/logger.js';
import { collectProcessMetrics, serveMetrics } from '../common/metrics.js';
import type { WorkerOptions } from '@temporalio/worker';
import { provisioningStepMetrics } from '../temporal/activity-metrics.js';
import type { Tracing } from './tracing.js';

export const METRICS_PORTS = {
  orchestrator: { metrics: 9470, temporal: 9471 },
  web: { metrics: 9472, temporal: undefined },
  gateway: { metrics: undefined, temporal: 9473 },
  controller: { metrics: 9474, temporal: undefined },
  host: { metrics: 9475, temporal: 9476 },
} as const;

export type TelemetryComponent = keyof typeof METRICS_PORTS;

/** Processes whose Temporal worker runs activities only, by design (no workflow bundle). */
const ACTIVITIES_ONLY_WORKERS: ReadonlySet<TelemetryComponent> = new Set(['gateway']);

export interface ProcessTelemetry {
  logger: Logger;
  /** Where `/metrics` is served (undefined for the gateway: its health port serves them). */
  metricsAddress?: string;
  /** Where the Temporal SDK serves its metrics, for processes with a worker. */
  temporalMetricsAddress?: string;
  /** Set when OTEL_EXPORTER_OTLP_ENDPOINT is: interceptors for clients and workers. */
  tracing?: Tracing;
  /**
   * Spread into `Worker.create`: provisioning step metrics, and tracing's interceptors and sinks
   * when tracing is on. Workflow spans also need the traced bundle (`ensureWorkflowBundle({ traced })`).
   */
  workerOptions(): Pick<WorkerOptions, 'interceptors' | 'sinks'>;
  close(): Promise<void>;
}

function portFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ValidationError(name, `${name}="${raw}" is not a port number (0-65535)`);
  }
  return port;
}

const hostPort = (host: string, port: number) =>
  host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

/** Must run before the process opens any Temporal connection (the Runtime is installed once). */
export async function startTelemetry(
  component: TelemetryComponent,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProcessTelemetry> {
  const logger = createLogger(component);
  collectProcessMetrics(component);
  const host = env.WASMBED_METRICS_HOST || '127.0.0.1';
  const prefix = `WASMBED_${component.toUpperCase()}`;
  const defaults = METRICS_PORTS[component];

  let temporalMetricsAddress: string | undefined;
  if (defaults.temporal !== undefined) {
    temporalMetricsAddress = hostPort(
      host,
      portFromEnv(env, `${prefix}_TEMPORAL_METRICS_PORT`, defaults.temporal),
    );
    // Loaded only here: processes without a worker never load the native core.
    const { installTemporalRuntime } = await import('../temporal/runtime.js');
    installTemporalRuntime({
      metricsBindAddress: temporalMetricsAddress,
      logger: rootLogger(),
      activitiesOnly: ACTIVITIES_ONLY_WORKERS.has(component),
    });
  }

  let server: http.Server | undefined;
  let metricsAddress: string | undefined;
  if (defaults.metrics !== undefined) {
    server = http.createServer((req, res) => {
      void serveMetrics(req, res).then((served) => {
        if (!served) res.writeHead(404).end();
      });
    });
    const port = await listen(server, host, portFromEnv(env, `${prefix}_METRICS_PORT`, defaults.metrics));
    metricsAddress = hostPort(host, port);
  }

  // Off unless configured: no tracing code is even loaded then.
  const tracing = env.OTEL_EXPORTER_OTLP_ENDPOINT
    ? await (await import('./tracing.js')).startTracing(`wasmbed-${component}`)
    : undefined;

  logger.info('telemetry ready', {
    metrics: metricsAddress,
    temporalMetrics: temporalMetricsAddress,
    tracing: tracing ? env.OTEL_EXPORTER_OTLP_ENDPOINT : undefined,
  });
  return {
    logger,
    metricsAddress,
    temporalMetricsAddress,
    tracing,
    workerOptions() {
      return {
        interceptors: {
          activity: [provisioningStepMetrics(), ...(tracing?.workerOptions.interceptors.activity ?? [])],
        },
        sinks: tracing?.workerOptions.sinks,
      };
    },
    async close() {
      await tracing?.close();
      if (server) await closeServer(server);
    },
  };
}
