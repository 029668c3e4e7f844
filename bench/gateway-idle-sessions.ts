/**
 * Idle sessions one gateway process holds with 30 s heartbeats. The gateway runs alone in
 * its own process (bench/support/gateway-process.ts) so its RSS and CPU are its own; fleet
 * processes (one per ~5000 devices, each device its own certificate) open N sessions. Then
 * the gateway's CPU is measured over a window of idleness (every device heartbeats once per
 * 30 s) and its RSS, before and after a forced GC.
 *
 *   npx tsx bench/gateway-idle-sessions.ts [--quick] [--n=10000] [--fleets=2] [--concurrency=64]
 *                                          [--window-s=30] [--out=result.json] [--keep-logs]
 */
import {
  cleanup,
  cpuPercent,
  gatewayWarnings,
  scratchDir,
  startFleetProcess,
  startGatewayProcess,
  type BenchGateway,
  type GatewayStats,
} from './support/gateway-bench.js';
import type { BenchChild } from './support/ipc.js';
import { kib, machine, mib, parseArgs, round, sleep, until, writeOut } from './support/stats.js';

const args = parseArgs();
const startMachine = machine();
const n = args.int('n', args.quick ? 200 : 10_000);
const fleetCount = Math.max(1, args.int('fleets', Math.ceil(n / 5000)));
const concurrency = args.int('concurrency', 64);
const windowMs = args.int('window-s', args.quick ? 3 : 30) * 1000;
const heartbeatIntervalMs = 30_000;
const dir = scratchDir('bench-idle');
let gateway: BenchGateway | undefined;
const fleets: BenchChild[] = [];
const progress = (line: string) => process.stderr.write(`[idle-sessions] ${line}\n`);

try {
  gateway = await startGatewayProcess(dir, {
    heartbeatIntervalMs,
    heartbeatTimeoutMs: heartbeatIntervalMs * 3,
  });
  const empty = await gateway.stats(true);
  const shares = Array.from(
    { length: fleetCount },
    (_, i) => Math.floor(n / fleetCount) + (i < n % fleetCount ? 1 : 0),
  );
  for (const [i, count] of shares.entries()) {
    fleets.push(
      await startFleetProcess(dir, `fleet-${i}`, {
        home: gateway.home,
        endpoint: gateway.endpoint,
        prefix: `idle${i}`,
        count,
        concurrency,
        behaviour: 'ack',
      }),
    );
  }
  progress(`issuing ${n} device certificates in ${fleetCount} process(es)`);
  const prepared = await Promise.all(fleets.map((f) => f.call('prepare', {}, 900_000)));
  const baseline = await gateway.stats(true);

  progress(`connecting ${n} sessions (${fleetCount} × ${concurrency} handshakes at a time)`);
  const started = performance.now();
  let done = false;
  const connecting = Promise.all(fleets.map((f) => f.call('connect', {}, 900_000))).finally(
    () => (done = true),
  );
  const samples: { s: number; sessions: number; rssMiB: number }[] = [];
  while (!done) {
    await Promise.race([connecting.catch(() => undefined), sleep(5000)]);
    const s = await gateway.stats();
    samples.push({
      s: round((performance.now() - started) / 1000, 1),
      sessions: s.sessions,
      rssMiB: mib(s.rss),
    });
    progress(`  ${samples.at(-1)!.s} s: ${s.sessions} sessions, gateway RSS ${mib(s.rss)} MiB`);
  }
  const connected = await connecting;
  const connectMs = performance.now() - started;
  const clientConnected = connected.reduce((a, r) => a + r.connected, 0);
  const afterConnect = await until(
    'gateway to register every connected session',
    async () => {
      const s = await gateway!.stats();
      return s.sessions >= clientConnected ? s : false;
    },
    30_000,
  ).catch(async () => gateway!.stats());

  // Idle window: every device sends one Heartbeat per 30 s and gets a HeartbeatAck.
  await sleep(args.quick ? 500 : 2000);
  progress(`idle window of ${windowMs / 1000} s`);
  const w0 = await gateway.stats(false);
  await gateway.child.call('stats', { resetLoopDelay: true });
  const fleetsBefore = await Promise.all(fleets.map((f) => f.call('stats')));
  await sleep(windowMs);
  const w1 = await gateway.stats(false);
  const fleetsAfter = await Promise.all(fleets.map((f) => f.call('stats')));
  const afterGc = await gateway.stats(true);

  const sessions = afterGc.sessions;
  const perSession = (a: GatewayStats, b: GatewayStats, key: 'rss' | 'heapUsed') =>
    kib((b[key] - a[key]) / Math.max(1, sessions));
  const fleetCpu = fleetsBefore.map((b, i) => cpuPercent(b.cpu, fleetsAfter[i]!.cpu, windowMs));
  const result = {
    benchmark: 'gateway-idle-sessions',
    machine: startMachine,
    target: n,
    fleetProcesses: fleetCount,
    concurrency,
    heartbeatIntervalMs,
    certificateIssueMs: prepared.map((p) => round(p.ms, 0)),
    clientConnected,
    perFleet: connected.map((r) => ({ connected: r.connected, attempted: r.attempted, ms: round(r.ms, 0) })),
    sessionsHeld: sessions,
    connectAllMs: round(connectMs, 0),
    connectPerSecond: round((clientConnected / connectMs) * 1000, 1),
    // CPU time is robust to other load on the machine, unlike the wall-clock rate above.
    gatewayCpuMsPerConnect: round(
      (afterConnect.cpu.user - baseline.cpu.user + afterConnect.cpu.system - baseline.cpu.system) /
        1000 /
        Math.max(1, clientConnected),
      3,
    ),
    connectProgress: samples,
    gateway: {
      rssEmptyMiB: mib(empty.rss),
      rssBaselineMiB: mib(baseline.rss),
      rssAfterConnectMiB: mib(afterConnect.rss),
      rssIdleMiB: mib(w1.rss),
      rssAfterGcMiB: mib(afterGc.rss),
      heapUsedBaselineMiB: mib(baseline.heapUsed),
      heapUsedAfterGcMiB: mib(afterGc.heapUsed),
      externalAfterGcMiB: mib(afterGc.external),
      rssPerSessionKiB: perSession(baseline, afterGc, 'rss'),
      rssPerSessionNoGcKiB: perSession(baseline, w1, 'rss'),
      heapPerSessionKiB: perSession(baseline, afterGc, 'heapUsed'),
      idleCpuPercent: cpuPercent(w0.cpu, w1.cpu, w1.at - w0.at),
      idleWindowMs: round(w1.at - w0.at, 0),
      framesInDuringWindow: w1.metrics.framesIn - w0.metrics.framesIn,
      loopDelayDuringWindowMs: w1.loopDelayMs,
      openFds: afterGc.openFds,
      metrics: afterGc.metrics,
    },
    fleets: fleetsAfter.map((f, i) => ({
      rssMiB: mib(f.rss),
      idleCpuPercent: fleetCpu[i],
      liveLinks: f.liveLinks,
      openFds: f.openFds,
      uncaught: f.uncaught,
    })),
    loadAverageAtEnd: machine().loadAverage,
    gatewayWarnings: gatewayWarnings(gateway.logFile),
  };
  console.log(JSON.stringify(result, null, 2));
  const g = result.gateway;
  console.log(
    '\n| sessions held / target | connect all | connects/s | gateway RSS (after GC) | RSS per session | JS heap per session | gateway idle CPU (30 s heartbeats) | fleet processes |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  console.log(
    `| ${sessions} / ${n} | ${round(connectMs / 1000, 1)} s | ${result.connectPerSecond} | ${g.rssIdleMiB} MiB (${g.rssAfterGcMiB} MiB) | ${g.rssPerSessionKiB} KiB | ${g.heapPerSessionKiB} KiB | ${g.idleCpuPercent} % of a core over ${round(g.idleWindowMs / 1000, 0)} s | ${fleetCount} |`,
  );
  writeOut(args.string('out'), result);
} finally {
  await cleanup(dir, gateway, fleets, args.flag('keep-logs'));
}
