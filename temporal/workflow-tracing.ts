/**
 * Workflow interceptors of the traced workflow bundle (temporal/workflow-bundle.ts, `traced`):
 * a span per workflow run, continuing the trace its starter put in the headers, and a span per
 * scheduled activity whose context travels to the activity in its headers. Spans leave the
 * sandbox through the worker's `exporter` sink (platform/tracing.ts).
 */
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [new OpenTelemetryInboundInterceptor()],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
