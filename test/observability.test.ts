/**
 * Observability against real components: a real Prometheus (Debian's package) scrapes every
 * process of a real platform — the orchestrator worker and the gateway (prom-client and the
 * Temporal SDK's own endpoint each) and web — while 5 virtual devices are provisioned and an app
 * is rolled out to them. PromQL through Prometheus's HTTP API then finds every target up, the
 * fleet counted, each provisioning step observed once per device, the Temporal worker metrics
 * and the rollout. The alert rules and the Grafana dashboard of k8s/70-observability.yaml load
 * into that Prometheus and every expression in them evaluates; `promtool check rules` passes.
 * Every line the platform's processes wrote is a JSON object; the Trends page draws the hour.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Application, Device } from '../common/resources.js';
import { PROVISIONING_STEPS, provisionWorkflowId } from '../workflows/contracts/provision-device.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { hostLogFile } from '../host/supervisor.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import {
  observabilityConfig,
  PROMTOOL_BIN,
  startPrometheus,
  type Prometheus,
  type ScrapeTarget,
} from './support/prometheus.js';
import { waitFor } from './support/wait.js';

const DEVICES = Array.from({ length: 5 }, (_, i) => `obs-${i + 1}`);
const rules = observabilityConfig('wasmbed-prometheus')['wasmbed-alerts.yml']!;

let platform: TestPlatform;
let prometheus: Prometheus;
let targets: ScrapeTarget[];

beforeAll(async () => {
  await buildApps({ only: ['blinky'], log: () => {} });
  platform = await startTestPlatform({ env: { WASMBED_TRENDS_INTERVAL_MS: '1000' } });
  targets = [...platform.metricsTargets].flatMap(([process, t]) => [
    ...(t.metrics ? [{ address: t.metrics, labels: { process, endpoint: 'metrics' } }] : []),
    ...(t.temporal ? [{ address: t.temporal, labels: { process, endpoint: 'temporal-sdk' } }] : []),
  ]);
  prometheus = await startPrometheus({ targets, ruleFiles: { 'wasmbed-alerts.yml': rules } });

  for (const name of DEVICES) {
    const res = await platform.api('POST', '/api/v1/devices', { name, labels: { group: 'obs' } });
    expect(res.status).toBe(202);
  }
  await waitFor(
    '5 devices Connected',
    async () =>
      ((await platform.api('GET', '/api/v1/devices?phase=Connected')).body.items as Device[]).length ===
      DEVICES.length,
    120_000,
  );
  const wasm = fs.readFileSync(path.join(DIST_DIR, 'blinky.wasm')).toString('base64');
  const deploy = await platform.api('POST', '/api/v1/applications', {
    name: 'obs-app',
    wasm,
    target: { selector: { group: 'obs' } },
    env: { PERIOD_MS: '60000' },
  });
  expect(deploy.status, JSON.stringify(deploy.body)).toBe(202);
  await waitFor(
    'obs-app Running',
    async () =>
      ((await platform.api('GET', '/api/v1/applications/obs-app')).body as Application).status.phase ===
      'Running',
    120_000,
  );
});

afterAll(async () => {
  await prometheus?.stop();
  await platform?.stop();
});

/** The value of a query with one result, once it equals `expected` (scrapes run every second). */
async function eventually(expr: string, expected: number): Promise<void> {
  let last: unknown;
  await waitFor(
    `${expr} == ${expected} (last: ${JSON.stringify(last)})`,
    async () => {
      const result = await prometheus.query(expr);
      last = result.map((r) => r.value[1]);
      return result.length === 1 && Number(result[0]!.value[1]) === expected;
    },
    30_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last result ${JSON.stringify(last)}`);
  });
}

describe('metrics through a real Prometheus', () => {
  it('scrapes every process: orchestrator, device host and gateway (prom-client + Temporal SDK) and web, all up', async () => {
    expect(targets.map((t) => `${t.labels.process}/${t.labels.endpoint}`).sort()).toEqual([
      'gateway/metrics',
      'gateway/temporal-sdk',
      'host/metrics',
      'host/temporal-sdk',
      'orchestrator/metrics',
      'orchestrator/temporal-sdk',
      'web/metrics',
    ]);
    await waitFor('every target up', async () => {
      const up = await prometheus.query('up{job="wasmbed"}');
      return up.length === targets.length && up.every((r) => r.value[1] === '1');
    });
    // Default process metrics in every prom-client process, labelled with the component.
    const cpu = await prometheus.query('process_cpu_seconds_total{endpoint="metrics"}');
    expect(cpu.map((r) => r.metric.component).sort()).toEqual(['gateway', 'host', 'orchestrator', 'web']);
    const lag = await prometheus.query('nodejs_eventloop_lag_seconds');
    expect(lag.length).toBe(4);
  });

  it('counts the fleet: 5 Connected virtual devices, sessions on the gateway, heartbeat lag observed', async () => {
    await eventually('sum(wasmbed_devices{phase="Connected"})', 5);
    await eventually('sum(wasmbed_devices{phase="Connected",runtime="virtual"})', 5);
    await eventually('sum(wasmbed_devices{phase="Failed"})', 0);
    await eventually('wasmbed_gateway_sessions{gateway="gateway-0"}', 5);
    await eventually('wasmbed_gateway_max_devices{gateway="gateway-0"}', 10_000);
    const heartbeats = await prometheus.query('sum(wasmbed_gateway_heartbeat_lag_seconds_count)');
    expect(Number(heartbeats[0]?.value[1])).toBeGreaterThan(5);
    await eventually('wasmbed_enrollments_pending', 0);
    // Certificates were issued for 90 days: none expires within 30, the first in about 90.
    await eventually('wasmbed_device_certificates_expiring{within="30d"}', 0);
    const horizon = await prometheus.query(
      '(wasmbed_device_certificate_earliest_expiry_timestamp_seconds - time()) / 86400',
    );
    expect(Number(horizon[0]?.value[1])).toBeGreaterThan(89);
  });

  it('observes each provisioning step once per device, where it ran, and counts the outcomes', async () => {
    const counts = await waitFor('every step observed 5 times', async () => {
      const result = await prometheus.query(
        'sum by (step) (wasmbed_provisioning_step_duration_seconds_count{outcome="succeeded"})',
      );
      const byStep = Object.fromEntries(result.map((r) => [r.metric.step, Number(r.value[1])]));
      return PROVISIONING_STEPS.every((s) => byStep[s] === 5) ? byStep : undefined;
    });
    expect(Object.keys(counts).sort()).toEqual([...PROVISIONING_STEPS].sort());
    // awaitSession is the gateway's activity; every other step ran in the device host, where the
    // API starts provisioning (local activities of the run, placement and the device key among
    // them): each is observed where it ran.
    const where = await prometheus.query(
      'sum by (process, step) (wasmbed_provisioning_step_duration_seconds_count{outcome="succeeded"})',
    );
    const ranOn = (step: string) => (step === 'awaitSession' ? 'gateway' : 'host');
    for (const r of where) expect(r.metric.process, r.metric.step).toBe(ranOn(r.metric.step!));
    await eventually('sum(wasmbed_provisionings_total{outcome="connected"})', 5);
    await eventually('sum(wasmbed_provisionings_total{outcome="failed"}) or vector(0)', 0);
  });

  it("exports the Temporal SDK's worker metrics from both workers", async () => {
    const names = await prometheus.get('/api/v1/label/__name__/values');
    const temporal = (names as string[]).filter((n) => n.startsWith('temporal_'));
    expect(temporal.length).toBeGreaterThan(10);
    for (const process of ['orchestrator', 'host', 'gateway']) {
      const polls = await prometheus.query(`count({__name__=~"temporal_.+", process="${process}"})`);
      expect(Number(polls[0]?.value[1]), process).toBeGreaterThan(5);
    }
    // Activities really ran through the orchestrator's and the host's workers and were measured
    // there (at least the 6 provisioning steps that are theirs, for each of the 5 devices; the
    // host's first four and the store steps run as local activities, measured as such).
    const executed = await prometheus.query(
      'sum({__name__=~"temporal_(local_)?activity_execution_latency.*_count", process=~"orchestrator|host"})',
    );
    expect(Number(executed[0]?.value[1])).toBeGreaterThan(5 * 6 - 1);
  });

  it('counts the rollout, the application by phase and its instances by state', async () => {
    await eventually('sum(wasmbed_rollouts_total{strategy="AllAtOnce"})', 1);
    await eventually('sum(wasmbed_rollouts_ended_total{phase="Running"})', 1);
    await eventually('wasmbed_applications{phase="Running"}', 1);
    await eventually('wasmbed_application_devices{state="Running"}', 5);
  });

  it('loads the alert rules, and every rule and dashboard expression evaluates', async () => {
    const groups = (await prometheus.get('/api/v1/rules')).groups as {
      name: string;
      rules: { name: string; health: string; lastError?: string }[];
    }[];
    const loaded = groups.find((g) => g.name === 'wasmbed');
    expect(loaded?.rules.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'WasmbedDevicesUnreachable',
        'WasmbedProvisioningFailures',
        'WasmbedGatewayNearCapacity',
        'WasmbedCertificatesExpiringSoon',
      ]),
    );
    await waitFor('rules evaluated healthy', async () =>
      ((await prometheus.get('/api/v1/rules')).groups as typeof groups)
        .find((g) => g.name === 'wasmbed')!
        .rules.every((r) => r.health === 'ok'),
    );
    // No alert fires on a healthy fleet (TargetDown and friends need `for:` anyway; none pending).
    const alerts = (await prometheus.get('/api/v1/alerts')).alerts as { labels: { alertname: string } }[];
    expect(alerts.map((a) => a.labels.alertname)).toEqual([]);

    const dashboard = JSON.parse(observabilityConfig('wasmbed-grafana-dashboard')['wasmbed-fleet.json']!);
    const exprs = (dashboard.panels as { title: string; targets: { expr: string }[] }[]).flatMap((p) =>
      p.targets.map((t) => ({ title: p.title, expr: t.expr })),
    );
    expect(exprs.length).toBeGreaterThan(10);
    // Every metric a panel or a rule names exists here (a renamed metric would leave it empty).
    const names = new Set((await prometheus.get('/api/v1/label/__name__/values')) as string[]);
    const referenced = new Set(
      [...exprs.map((e) => e.expr), rules].flatMap(
        (text) => text.match(/\b(?:wasmbed|temporal|process|nodejs)_\w+/g) ?? [],
      ),
    );
    expect(referenced.size).toBeGreaterThan(12);
    expect([...referenced].filter((n) => !names.has(n))).toEqual([]);
    for (const { title, expr } of exprs) {
      const result = await prometheus.query(expr);
      // Every panel has data on this fleet, except the ones that need a rate over history.
      if (!/rate\(|histogram_quantile/.test(expr))
        expect(result.length, `${title}: ${expr}`).toBeGreaterThan(0);
    }
  });
});

describe('alert rules', () => {
  it('pass promtool check rules', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-rules-'));
    const file = path.join(dir, 'wasmbed-alerts.yml');
    fs.writeFileSync(file, rules);
    const { stdout } = await promisify(execFile)(PROMTOOL_BIN, ['check', 'rules', file]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

/** The device host runs detached (started by the orchestrator): its output goes to its log file. */
function hostLogLines(): string[] {
  return fs
    .readFileSync(hostLogFile(platform.home, platform.hostId), 'utf8')
    .split('\n')
    .filter((line) => line !== '');
}

describe('JSON logs', () => {
  it('every line each platform process wrote is one JSON object with level, time, component and msg', () => {
    let total = 0;
    for (const [name, lines] of [...platform.logs, ['host', hostLogLines()] as const]) {
      expect(lines.length, name).toBeGreaterThan(0);
      for (const line of lines) {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line);
        } catch {
          throw new Error(`${name} wrote a line that is not JSON: ${line}`);
        }
        expect(typeof entry.level, line).toBe('string');
        expect(typeof entry.time, line).toBe('string');
        expect(typeof entry.component, line).toBe('string');
        expect(typeof entry.msg, line).toBe('string');
        total++;
      }
    }
    expect(total).toBeGreaterThan(20);
  });

  it("tags activity lines with the run's workflowId and runId, and device lines with the device", () => {
    const entries = [...platform.logs.get('orchestrator')!, ...hostLogLines()].map(
      (l) => JSON.parse(l) as Record<string, unknown>,
    );
    const started = entries.find((e) => e.msg === 'started device' && e.device === 'obs-1');
    // startEmulator runs in the device host, a local activity of provisioning (which the API
    // starts on the host's queue).
    expect(started).toMatchObject({
      component: 'host',
      workflowId: provisionWorkflowId('obs-1'),
      activity: 'startEmulator',
    });
    expect(started!.runId).toMatch(/^[0-9a-f-]{36}$/);
    // The Temporal worker's own lines come through the same logger.
    expect(entries.some((e) => e.component === 'temporal')).toBe(true);
  });
});

describe('Trends page', () => {
  it('draws devices by phase, provisioning per minute and heartbeat age as inline SVG', async () => {
    const page = await waitFor('a trend with Connected devices', async () => {
      const text = await (await fetch(`${platform.webUrl}/trends`)).text();
      return /data-series="Connected"/.test(text) ? text : undefined;
    });
    expect(page.match(/<svg\s+class="chart"/g)?.length).toBe(3);
    expect(page).not.toMatch(/<script(?![^>]*src="\/assets\/)/);
    const bars = [...page.matchAll(/<rect\s+data-count="(\d+)"/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(bars).toBe(5);
    expect(page).toMatch(/data-series="median"/);
  });
});
