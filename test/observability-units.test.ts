/**
 * The pure parts of observability, fast: the terminal formatter of JSON log lines, LOG_LEVEL
 * checking, the SVG charts, the fleet snapshot and the fleet gauges over a real SQLite store, and
 * the gateway's prom-client exposition (the names and labels dashboards and alerts rely on).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deviceState } from '../common/application-status.js';
import { ValidationError } from '../common/errors.js';
import { formatLogLine } from '../common/log-format.js';
import { logLevelFromEnv } from '../common/logger.js';
import { processRegistry } from '../common/metrics.js';
import { APP_DEVICE_STATES, type ApplicationSpec } from '../common/resources.js';
import { GatewayMetrics } from '../gateway/metrics.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { registerFleetMetrics } from '../web/fleet-metrics.js';
import { takeFleetSnapshot } from '../web/fleet-snapshot.js';
import { barChart, lineChart } from '../web/svg-chart.js';
import { TrendRecorder } from '../web/trends.js';
import { trendCharts } from '../web/pages/trends.js';

describe('log lines', () => {
  it('formats a JSON line for a terminal and leaves anything else alone', () => {
    const line = JSON.stringify({
      level: 'warn',
      time: '2026-12-02T06:17:00.726Z',
      component: 'gateway',
      device: 'dev-1',
      msg: 'closing session',
    });
    expect(formatLogLine(line)).toBe('06:17:00.726 WARN  [gateway] closing session {"device":"dev-1"}');
    expect(formatLogLine(line, true)).toContain('\x1b[33mWARN \x1b[0m');
    expect(formatLogLine('plain text from somewhere')).toBe('plain text from somewhere');
    expect(formatLogLine('{not json')).toBe('{not json');
  });

  it('takes LOG_LEVEL, honours WASMBED_DEBUG, and names a bad value', () => {
    expect(logLevelFromEnv({})).toBe('info');
    expect(logLevelFromEnv({ WASMBED_DEBUG: '1' })).toBe('debug');
    expect(logLevelFromEnv({ LOG_LEVEL: 'warn', WASMBED_DEBUG: '1' })).toBe('warn');
    expect(() => logLevelFromEnv({ LOG_LEVEL: 'loud' })).toThrow(ValidationError);
    expect(() => logLevelFromEnv({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL="loud" is not one of/);
  });
});

describe('SVG charts', () => {
  it('draws one polyline per series within the frame, with escaped names and a round maximum', () => {
    const svg = lineChart({
      title: 'a <title>',
      from: 0,
      to: 100,
      series: [
        {
          name: 'Connected',
          color: '#0a0',
          points: [
            [0, 0],
            [50, 7],
            [100, 3],
          ],
        },
        { name: 'x"><script>', color: '#a00', points: [[0, 1]] },
        { name: 'empty', color: '#00a', points: [] },
      ],
    }).value;
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('a &lt;title&gt;');
    expect(svg).toMatch(/>10<\/text>/); // 7 rounds up to 10
    const coords = [...svg.matchAll(/points="([^"]+)"/g)].flatMap((m) =>
      m[1]!.split(' ').map((p) => p.split(',').map(Number)),
    );
    for (const [x, y] of coords) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(560);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(160);
    }
  });

  it('draws a bar per non-empty bucket', () => {
    const buckets = [0, 3, 0, 1].map((count, i) => ({ start: i * 60_000, count }));
    const svg = barChart({ title: 'rate', buckets, color: '#0a0', bucketMs: 60_000 }).value;
    expect([...svg.matchAll(/data-count="(\d+)"/g)].map((m) => m[1])).toEqual(['3', '1']);
  });
});

describe('fleet snapshot and trends', () => {
  it('counts devices by phase and runtime, heartbeat ages, apps, enrollments and certificate horizons', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-fleet-'));
    const store = new SqliteResourceStore(openDatabase(path.join(dir, 'wasmbed.db')));
    const now = Date.parse('2026-12-02T12:00:00Z');
    const iso = (ms: number) => new Date(ms).toISOString();
    const device = (name: string, runtime: 'virtual' | 'docker', status: Record<string, unknown>) =>
      store.create('Device', name, { mcuType: 'Stm32F746gDisco', runtime }, {
        conditions: [],
        apps: {},
        ...status,
      } as never);
    await device('a', 'virtual', {
      phase: 'Connected',
      lastHeartbeat: iso(now - 2000),
      identity: { certSerial: '1', spkiSha256: 'x', notAfter: iso(now + 3 * 86_400_000) },
      steps: [{ name: 'awaitSession', state: 'Succeeded', finishedAt: iso(now - 90_000) }],
    });
    await device('b', 'virtual', { phase: 'Connected', lastHeartbeat: iso(now - 10_000) });
    await device('c', 'docker', { phase: 'Failed' });
    await device('d', 'virtual', { phase: 'Pending', enrollment: { state: 'AwaitingApproval' } });
    const s = await takeFleetSnapshot(store, now);
    expect(s.devicesByPhase).toMatchObject({ Connected: 2, Failed: 1, Pending: 1, Unreachable: 0 });
    expect(Object.fromEntries(s.devicesByPhaseRuntime)).toEqual({
      'Connected|virtual': 2,
      'Failed|docker': 1,
      'Pending|virtual': 1,
    });
    expect(s.heartbeatAge).toEqual({ max: 10, p50: 2, count: 2 });
    expect(s.pendingEnrollments).toBe(1);
    expect(Object.fromEntries(s.certificatesExpiringWithin)).toEqual({ 1: 0, 7: 1, 30: 1 });
    expect(s.earliestCertificateExpiry).toBe((now + 3 * 86_400_000) / 1000);

    const recorder = new TrendRecorder(store);
    recorder.record({ ...s, at: now - 2 * 3_600_000 }); // falls out of the window with the next
    recorder.record(s);
    const trends = recorder.trends(now);
    expect(trends.samples.map((x) => x.at)).toEqual([now]);
    expect(trends.provisionedPerMinute).toHaveLength(60);
    expect(trends.provisionedPerMinute.reduce((sum, b) => sum + b.count, 0)).toBe(1);
    // The heartbeat chart says what age is healthy: the stored heartbeat is written coalesced
    // (gateway/heartbeat-writes.ts), so a healthy fleet's oldest reads ~20 s, past the 15 s timeout.
    expect(String(trendCharts(trends))).toMatch(
      /at most once per heartbeat timeout[\s\S]*is a healthy device/,
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('fleet gauges', () => {
  it('count application instances in every state the API knows, 0 where there are none', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-fleet-gauges-'));
    const store = new SqliteResourceStore(openDatabase(path.join(dir, 'wasmbed.db')));
    await store.create('Application', 'app', {} as ApplicationSpec, {
      phase: 'PartiallyRunning',
      devices: { a: deviceState('Running'), b: deviceState('Running'), c: deviceState('Failed', 'trap') },
      counts: { targeted: 3, running: 2, failed: 1, pending: 0 },
    });
    registerFleetMetrics(store);
    const text = await processRegistry.metrics();
    const series = [...text.matchAll(/^wasmbed_application_devices\{state="(\w+)"\} (\d+)$/gm)];
    const byState = Object.fromEntries(series.map(([, state, count]) => [state, Number(count)]));
    expect(Object.keys(byState).sort()).toEqual([...APP_DEVICE_STATES].sort());
    expect(byState).toMatchObject({ Running: 2, Failed: 1, Pending: 0, Stopped: 0 });
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('gateway metrics on prom-client', () => {
  it('exposes counters, gauges and histograms labelled with the gateway, never a device', async () => {
    const metrics = new GatewayMetrics();
    metrics.registry.setDefaultLabels({ gateway: 'gw-a' });
    metrics.readGaugesFrom(() => ({
      sessions: 3,
      handshakesInFlight: 1,
      framesOut: 42,
      maxDevices: 100,
      statusWritesPending: 2,
      deviceLogLinesPending: 7,
      deviceLogLinesDropped: 4,
    }));
    metrics.handshakesRejected += 2;
    metrics.observeRequest('DeployApplication', 12, 'ok');
    metrics.observeRequest('DeployApplication', 5000, 'timeout');
    metrics.observeHeartbeat(1200, 1000);
    const text = await metrics.registry.metrics();
    expect(text).toContain('wasmbed_gateway_sessions{gateway="gw-a"} 3');
    expect(text).toContain('wasmbed_gateway_max_devices{gateway="gw-a"} 100');
    expect(text).toContain('wasmbed_gateway_status_writes_pending{gateway="gw-a"} 2');
    expect(text).toContain('wasmbed_gateway_device_log_lines_pending{gateway="gw-a"} 7');
    expect(text).toContain('wasmbed_gateway_device_log_lines_dropped_total{gateway="gw-a"} 4');
    expect(text).toContain('wasmbed_gateway_handshakes_rejected_total{gateway="gw-a"} 2');
    expect(text).toContain('wasmbed_gateway_frames_out_total{gateway="gw-a"} 42');
    expect(text).toContain(
      'wasmbed_gateway_requests_total{type="DeployApplication",outcome="timeout",gateway="gw-a"} 1',
    );
    expect(text).toContain(
      'wasmbed_gateway_request_duration_seconds_count{gateway="gw-a",type="DeployApplication"} 1',
    );
    expect(text).toMatch(/wasmbed_gateway_heartbeat_lag_seconds_bucket\{le="0.25",gateway="gw-a"\} 1/);
    expect(text).toMatch(/wasmbed_gateway_heartbeat_lag_seconds_bucket\{le="0.1",gateway="gw-a"\} 0/);
    expect(metrics.counts().handshakesRejected).toBe(2);
  });
});
