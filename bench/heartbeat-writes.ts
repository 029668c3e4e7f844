/**
 * Store writes per second and the gateway's event-loop delay with N devices heartbeating every
 * 5 s, before and after coalescing, on SQLite, PostgreSQL and Kubernetes, in one run.
 *
 * The gateway is the real DeviceServer alone in its process (bench/support/gateway-process.ts)
 * with the heartbeat path of gateway/main.ts: every heartbeat goes through
 * gateway/heartbeat-writes.ts to `store.updateStatus(lastHeartbeat)` in the background of the TLS
 * sessions. "before" writes every heartbeat (minIntervalMs 0, the code before coalescing); "after"
 * writes a device's heartbeat at most once per heartbeat timeout (15 s), as gateway/main.ts does.
 * One fleet process holds the N mutual-TLS sessions (each device its own certificate) for every
 * run; the gateway listens on the same port each time.
 *
 * Per run, after the sessions are up and 5 s have passed, a window of `--window-s` seconds:
 * - writes/s the backend committed (SQLite: its change log; PostgreSQL: row updates of the
 *   resources table; Kubernetes: the API server's successful write requests on wasmbed.io);
 * - writes/s the gateway issued and saw complete, their latency, the most in flight at once;
 * - the gateway's event-loop delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution: an idle
 *   loop reads ~10 ms) and CPU; sessions held and lost during the window.
 *
 * Kubernetes runs against a real etcd + kube-apiserver (test/support/kube-cluster.ts). `--kube`
 * names which Kubernetes stores to run: HEAD (this checkout's) and/or git revisions whose store/
 * is copied in for the run (bench/support/bench-stores.ts), e.g. the Atomics-bridge store and the
 * informer-backed one side by side.
 *
 *   npx tsx bench/heartbeat-writes.ts [--quick] [--devices=1000] [--window-s=30]
 *       [--backends=sqlite,postgres,kubernetes] [--kube=HEAD[,<rev>…]] [--connect-timeout-s=240]
 *       [--out=result.json] [--keep-logs]
 */
import fs from 'node:fs';
import path from 'node:path';
import { paths } from '../common/config.js';
import { REPO_ROOT } from '../common/repo-root.js';
import type { DeviceSpec, DeviceStatus } from '../common/resources.js';
import { startKubeCluster, type KubeCluster } from '../test/support/kube-cluster.js';
import { startPostgres, type PostgresServer } from '../test/support/postgres.js';
import { freePort } from '../test/support/ports.js';
import {
  committedWrites,
  openBenchStore,
  storeFromGit,
  type BenchStoreConfig,
} from './support/bench-stores.js';
import {
  cleanup,
  cpuPercent,
  gatewayWarnings,
  scratchDir,
  startFleetProcess,
  startGatewayProcess,
  type BenchGateway,
} from './support/gateway-bench.js';
import type { BenchChild } from './support/ipc.js';
import { machine, parseArgs, round, sleep, writeOut } from './support/stats.js';

const args = parseArgs();
const devices = args.int('devices', args.quick ? 100 : 1000);
const windowMs = args.int('window-s', args.quick ? 10 : 30) * 1000;
/** A gateway whose loop is blocked may never take every session: measure what it holds by then. */
const connectTimeoutMs = args.int('connect-timeout-s', 240) * 1000;
const backends = (args.string('backends') ?? 'sqlite,postgres,kubernetes').split(',');
const kubeRevs = (args.string('kube') ?? 'HEAD').split(',');
const HEARTBEAT_INTERVAL_MS = 5000;
const HEARTBEAT_TIMEOUT_MS = 15_000;
const PREFIX = 'hb';
const progress = (line: string) => process.stderr.write(`[heartbeat-writes] ${line}\n`);
for (const b of backends) {
  if (!['sqlite', 'postgres', 'kubernetes'].includes(b))
    throw new Error(`unknown backend ${b} in --backends`);
}

const dir = scratchDir('bench-heartbeats');
const home = path.join(dir, 'home');
let postgres: PostgresServer | undefined;
let kube: KubeCluster | undefined;
const copies: string[] = [];
let gateway: BenchGateway | undefined;
let fleet: BenchChild | undefined;

interface Variant {
  label: string;
  store: BenchStoreConfig;
}

const spec: DeviceSpec = { mcuType: 'Stm32F746gDisco', runtime: 'virtual' };
const status: DeviceStatus = { phase: 'Connected', conditions: [], apps: {} };

/** The fleet's devices as Device resources, so every heartbeat write finds its device. */
async function seed(config: BenchStoreConfig): Promise<void> {
  const { store, close } = await openBenchStore(config);
  try {
    const names = Array.from({ length: devices }, (_, i) => `${PREFIX}-${i}`);
    // A just-established CRD may take a moment to be served.
    for (let attempt = 0; ; attempt++) {
      try {
        await store.create('Device', names[0]!, spec, status);
        break;
      } catch (err) {
        if (attempt > 50) throw err;
        await sleep(200);
      }
    }
    for (let i = 1; i < names.length; i += 16) {
      await Promise.all(names.slice(i, i + 16).map((n) => store.create('Device', n, spec, status)));
    }
  } finally {
    await close();
  }
}

async function variants(): Promise<Variant[]> {
  const list: Variant[] = [];
  if (backends.includes('sqlite')) {
    list.push({ label: 'SQLite (WAL)', store: { backend: 'sqlite', file: paths.db(home) } });
  }
  if (backends.includes('postgres')) {
    postgres = await startPostgres();
    list.push({ label: 'PostgreSQL 15 (fsync on)', store: { backend: 'postgres', url: postgres.url } });
  }
  if (backends.includes('kubernetes')) {
    kube = await startKubeCluster();
    const crds = await kube.kubectl(['apply', '-f', path.join(REPO_ROOT, 'k8s', 'crds')]);
    if (crds.code !== 0) throw new Error(crds.stderr);
    await kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/devices.wasmbed.io']);
    for (const rev of kubeRevs) {
      const base = { backend: 'kubernetes' as const, kubeconfig: kube.kubeconfig, namespace: 'default' };
      if (rev === 'HEAD') {
        list.push({ label: 'Kubernetes (this checkout)', store: base });
      } else {
        const copy = storeFromGit(rev);
        copies.push(copy.dir);
        list.push({ label: `Kubernetes (${rev} = ${copy.commit})`, store: { ...base, module: copy.module } });
      }
    }
  }
  return list;
}

let fleets = 0;
/** The fleet process holding the N sessions (each device its own certificate, issued here). */
async function startFleet(port: number): Promise<BenchChild> {
  const child = await startFleetProcess(dir, `fleet-${fleets++}`, {
    home,
    endpoint: `127.0.0.1:${port}`,
    prefix: PREFIX,
    count: devices,
    concurrency: 32,
    behaviour: 'ack',
  });
  await child.call('prepare', {}, 900_000);
  return child;
}

async function run(variant: Variant, mode: 'before' | 'after', port: number) {
  const minIntervalMs = mode === 'before' ? 0 : HEARTBEAT_TIMEOUT_MS;
  gateway = await startGatewayProcess(dir, {
    port,
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    heartbeats: { store: variant.store, minIntervalMs },
  });
  const connectStarted = performance.now();
  const connecting = fleet!.call<{ connected: number }>('connect', {}, 900_000);
  connecting.catch(() => {}); // a fleet killed while connecting (below) rejects it
  const connected = await Promise.race([connecting, sleep(connectTimeoutMs).then(() => undefined)]);
  const connectMs = performance.now() - connectStarted;
  progress(
    `${variant.label}, ${mode}: ${connected ? `${connected.connected}/${devices} connected` : `connecting still under way (${(await gateway.stats()).sessions} sessions)`} after ${round(connectMs / 1000, 1)} s`,
  );
  await sleep(HEARTBEAT_INTERVAL_MS);

  const kubeMetrics = kube
    ? async () => (await kube!.kubectl(['get', '--raw', '/metrics'])).stdout
    : undefined;
  const statsTimeout = 300_000; // a blocked event loop answers late
  const c0 = await committedWrites(variant.store, kubeMetrics);
  const w0 = await gateway.child.call('stats', { resetLoopDelay: true }, statsTimeout);
  await sleep(windowMs);
  const w1 = await gateway.child.call('stats', {}, statsTimeout);
  const c1 = await committedWrites(variant.store, kubeMetrics);
  const loadAverage = machine().loadAverage;
  const seconds = (w1.at - w0.at) / 1000;
  const h0 = w0.heartbeatWrites;
  const h1 = w1.heartbeatWrites;
  const result = {
    backend: variant.label,
    mode,
    minIntervalMs,
    connected: connected?.connected ?? `not all within ${connectTimeoutMs / 1000} s`,
    connectS: round(connectMs / 1000, 1),
    windowS: round(seconds, 1),
    heartbeatsPerS: round((h1.heartbeats - h0.heartbeats) / seconds, 1),
    committedWritesPerS: round((c1 - c0) / seconds, 1),
    issuedWritesPerS: round((h1.issued - h0.issued) / seconds, 1),
    completedWritesPerS: round((h1.done - h0.done) / seconds, 1),
    failedWrites: h1.failed - h0.failed,
    writeErrors: h1.errors,
    writesInFlightAtEnd: h1.pending,
    writesInFlightMax: h1.pendingMax,
    writeLatencyMs: h1.latencyMs,
    loopDelayMs: {
      p50: round(w1.loopDelayMs.p50, 1),
      p99: round(w1.loopDelayMs.p99, 1),
      max: round(w1.loopDelayMs.max, 1),
      mean: round(w1.loopDelayMs.mean, 1),
    },
    gatewayCpuPercent: cpuPercent(w0.cpu, w1.cpu, w1.at - w0.at),
    sessionsAtStart: w0.sessions,
    sessionsAtEnd: w1.sessions,
    sessionsLost: w1.downEvents - w0.downEvents,
    loadAverage,
  };
  progress(JSON.stringify(result));
  if (connected) {
    await fleet!.call('close', { timeoutMs: 10_000 }, 30_000);
  } else {
    // Still connecting: a fresh fleet process for the next run.
    fleet!.kill();
    await fleet!.exited;
    fleet = await startFleet(port);
  }
  await gateway.child.call('stop', {}, 60_000).catch(() => gateway!.child.kill());
  await gateway.child.exited;
  gateway = undefined;
  return result;
}

const startMachine = machine();
const results = [];
/** WARN/ERROR lines of the gateway processes, read before the scratch dir goes. */
const logs = { warnings: {} as Record<string, number> };
try {
  const port = await freePort();
  // The CA and certificate table the fleet's certificates come from (gateway/home).
  const first = await startGatewayProcess(dir, { port });
  await first.child.call('stop', {}, 30_000);
  await first.child.exited;
  const list = await variants();
  for (const variant of list) {
    if (
      variant.store.backend === 'kubernetes' &&
      variant !== list.find((v) => v.store.backend === 'kubernetes')
    )
      continue; // one Kubernetes seeding serves every Kubernetes store
    progress(`seeding ${devices} devices in ${variant.label}`);
    await seed(variant.store);
  }
  fleet = await startFleet(port);
  for (const variant of list) {
    const pair = [];
    for (const mode of ['before', 'after'] as const) pair.push(await run(variant, mode, port));
    results.push(...pair);
  }
} finally {
  await cleanup(dir, gateway, fleet ? [fleet] : [], true);
  for (const copy of copies) fs.rmSync(copy, { recursive: true, force: true });
  await kube?.stop();
  await postgres?.destroy();
  logs.warnings = gatewayWarnings(path.join(dir, 'gateway.log'));
  if (!args.flag('keep-logs')) fs.rmSync(dir, { recursive: true, force: true });
}

console.log(
  `\n${devices} devices heartbeating every ${HEARTBEAT_INTERVAL_MS / 1000} s, ${windowMs / 1000} s window; load average at start ${startMachine.loadAverage.join(' ')}`,
);
console.log(
  '| backend | heartbeat writes | writes/s committed | writes/s completed (issued) | write latency p50 / p99 | most in flight | loop delay p50 / p99 / max | gateway CPU | sessions start → end (lost) | load avg |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of results) {
  console.log(
    `| ${r.backend} | ${r.mode === 'before' ? 'every heartbeat' : `≤ 1 per ${r.minIntervalMs / 1000} s`} | ${r.committedWritesPerS} | ${r.completedWritesPerS} (${r.issuedWritesPerS}) | ${r.writeLatencyMs.p50} / ${r.writeLatencyMs.p99} ms | ${r.writesInFlightMax} | ${r.loopDelayMs.p50} / ${r.loopDelayMs.p99} / ${r.loopDelayMs.max} ms | ${r.gatewayCpuPercent} % | ${r.sessionsAtStart} → ${r.sessionsAtEnd} (${r.sessionsLost}) | ${r.loadAverage.join(' ')} |`,
  );
}
const ratios = [];
for (let i = 0; i + 1 < results.length; i += 2) {
  const [before, after] = [results[i]!, results[i + 1]!];
  const ratio = (a: number, b: number) => (b > 0 ? round(a / b, 2) : null);
  ratios.push({
    backend: before.backend,
    committedWrites: ratio(after.committedWritesPerS, before.committedWritesPerS),
    loopDelayP99: ratio(after.loopDelayMs.p99, before.loopDelayMs.p99),
    loopDelayMax: ratio(after.loopDelayMs.max, before.loopDelayMs.max),
    gatewayCpu: ratio(after.gatewayCpuPercent, before.gatewayCpuPercent),
  });
}
console.log('\nafter ÷ before:');
console.table(ratios);
writeOut(args.string('out'), {
  machine: startMachine,
  devices,
  windowMs,
  results,
  ratios,
  gatewayWarnings: logs.warnings,
});
// Whatever a store leaves running (a watch, a worker thread) must not keep the benchmark alive.
process.exit(0);
