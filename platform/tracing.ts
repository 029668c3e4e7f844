/**
 * OpenTelemetry tracing, loaded only when OTEL_EXPORTER_OTLP_ENDPOINT is set (platform/telemetry.ts):
 * spans go over OTLP/HTTP to `$OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces` (the exporter reads the
 * standard OTEL_EXPORTER_OTLP_* variables itself). Temporal's interceptors carry the trace across
 * processes in workflow and activity headers, so `POST /api/v1/devices` (web) → `provision-<device>`
 * (workflow, orchestrator) → each step's activity (orchestrator, and the gateway's awaitSession)
 * is one trace.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { ClientInterceptors } from '@temporalio/client';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import type { InjectedSinks, WorkerInterceptors } from '@temporalio/worker';
import type { NextFunction, Request, Response } from 'express';

export interface Tracing {
  tracer: Tracer;
  /** For `new Client({ interceptors })`: starting or signalling a workflow carries the trace. */
  clientInterceptors: ClientInterceptors;
  /** Worker options: activity spans, and (with the traced workflow bundle) workflow spans. */
  workerOptions: { interceptors: WorkerInterceptors; sinks: InjectedSinks<never> };
  /** Express middleware: one server span per API request, the root of what it starts. */
  requestSpans(req: Request, res: Response, next: NextFunction): void;
  close(): Promise<void>;
}

export async function startTracing(serviceName: string): Promise<Tracing> {
  const resource = new Resource({ 'service.name': serviceName });
  const exporter = new OTLPTraceExporter();
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  // Global provider, W3C trace-context propagator and the AsyncLocalStorage context manager.
  provider.register();
  const tracer = trace.getTracer('wasmbed');
  return {
    tracer,
    clientInterceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
    workerOptions: {
      interceptors: { activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx) })] },
      sinks: { exporter: makeWorkflowExporter(exporter, resource) } as unknown as InjectedSinks<never>,
    },
    requestSpans(req, res, next) {
      // Only the API: dashboard pages and live streams would bury the traces worth reading.
      if (!req.path.startsWith('/api/')) return next();
      const parent = propagation.extract(context.active(), req.headers);
      const span = tracer.startSpan(`${req.method} ${req.path}`, { kind: SpanKind.SERVER }, parent);
      span.setAttributes({ 'http.request.method': req.method, 'url.path': req.path });
      res.once('finish', () => {
        span.setAttribute('http.response.status_code', res.statusCode);
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
      context.with(trace.setSpan(parent, span), next);
    },
    async close() {
      await provider.shutdown();
    },
  };
}
