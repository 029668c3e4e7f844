/**
 * Tracing end to end: a real platform with OTEL_EXPORTER_OTLP_ENDPOINT pointing at an OTLP/HTTP
 * receiver started by the test (a small HTTP server that keeps the JSON export requests — the
 * boundary where an OpenTelemetry Collector would sit). One `POST /api/v1/devices` must yield one
 * trace: its root is the web process's API request span, and it holds the provisioning workflow
 * run and every step's activity, the gateway's awaitDeviceSession included — spans from three
 * processes joined by Temporal's interceptors. Slow suite: the traced workflow bundle is built.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Device } from '../common/resources.js';
import { listen } from '../common/http-server.js';
import { ensureWorkflowBundle } from '../temporal/workflow-bundle.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

const spans: ReceivedSpan[] = [];
let receiver: http.Server;
let platform: TestPlatform;

/** Keeps every span of every OTLP/HTTP JSON export request (ExportTraceServiceRequest). */
function startReceiver(): http.Server {
  return http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if (
        req.method !== 'POST' ||
        req.url !== '/v1/traces' ||
        !/json/.test(req.headers['content-type'] ?? '')
      ) {
        res.writeHead(415).end();
        return;
      }
      const request = JSON.parse(body) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: Omit<ReceivedSpan, 'service'>[] }[];
        }[];
      };
      for (const rs of request.resourceSpans) {
        const service =
          rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              service,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              name: s.name,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
}

beforeAll(async () => {
  await ensureWorkflowBundle({ traced: true });
  receiver = startReceiver();
  const port = await listen(receiver, '127.0.0.1', 0);
  platform = await startTestPlatform({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      // Export batches quickly: the test waits for them.
      OTEL_BSP_SCHEDULE_DELAY: '200',
    },
  });
}, 300_000);

afterAll(async () => {
  await platform?.stop();
  receiver?.close();
});

describe('one trace from the API to the device', () => {
  it('POST /api/v1/devices → provision-<device> → each step → the gateway activity', async () => {
    const res = await platform.api('POST', '/api/v1/devices', { name: 'traced-1' });
    expect(res.status).toBe(202);
    await waitFor(
      'traced-1 Connected',
      async () =>
        ((await platform.api('GET', '/api/v1/devices/traced-1')).body as Device).status.phase === 'Connected',
      90_000,
    );
    const expected = [
      'RunWorkflow:provisionDevice',
      'RunActivity:issueCertificate',
      'RunActivity:prepareVolume',
      'RunActivity:copyFirmware',
      'RunActivity:startEmulator',
      'RunActivity:assignGateway',
      'RunActivity:writeEndpoint',
      'RunActivity:awaitDeviceSession',
      'RunActivity:markConnected',
      'RunActivity:startLifecycle',
      // The device's lifecycle, started by that activity with the host's client, joins the trace.
      'StartWorkflow:deviceLifecycle',
    ];
    const trace = await waitFor(
      'the provisioning trace with every step',
      () => {
        const root = spans.find((s) => s.name === 'POST /api/v1/devices' && !s.parentSpanId);
        if (!root) return undefined;
        const inTrace = spans.filter((s) => s.traceId === root.traceId);
        const names = new Set(inTrace.map((s) => s.name));
        return expected.every((n) => names.has(n)) ? { root, inTrace } : undefined;
      },
      60_000,
    );
    expect(trace.root.service).toBe('wasmbed-web');
    // One trace: each step's span hangs off the root through its parents. (The lifecycle
    // workflow that provisioning starts runs on; its run span is exported when it ends, so its
    // activities' parents are not all here yet — they are not part of this check.)
    const byId = new Map(trace.inTrace.map((s) => [s.spanId, s]));
    for (const name of expected) {
      let span = trace.inTrace.find((s) => s.name === name)!;
      const path = [span.name];
      while (span.parentSpanId) {
        const parent = byId.get(span.parentSpanId);
        expect(parent, `parent of ${path.join(' ← ')}`).toBeDefined();
        span = parent!;
        path.push(span.name);
      }
      expect(span, path.join(' ← ')).toBe(trace.root);
    }
    expect(trace.inTrace.filter((s) => !s.parentSpanId)).toEqual([trace.root]);
    // The gateway's activity ran in the gateway; the run itself, with every other step as a local
    // activity, in the device host (the API started it on the host's queue).
    const by = (name: string) => trace.inTrace.find((s) => s.name === name)!.service;
    expect(by('RunActivity:awaitDeviceSession')).toBe('wasmbed-gateway');
    expect(by('RunActivity:issueCertificate')).toBe('wasmbed-host');
    expect(by('RunActivity:assignGateway')).toBe('wasmbed-host');
    expect(by('RunActivity:markConnected')).toBe('wasmbed-host');
    expect(by('StartWorkflow:deviceLifecycle')).toBe('wasmbed-host');
    expect(by('RunWorkflow:provisionDevice')).toBe('wasmbed-host');
    expect(
      trace.inTrace.some((s) => s.name === 'StartWorkflow:provisionDevice' && s.service === 'wasmbed-web'),
    ).toBe(true);
  });
});
