/**
 * Mutual-TLS handshakes per second against a gateway in its own process: a fleet process
 * connects N devices (each its own certificate, `concurrency` handshakes at a time), then
 * closes them; again with TLS session resumption (Fleet resumeTls). Counts how many
 * connections really resumed (`socket.isSessionReused()`) and how many distinct sessions
 * the gateway registered. Client and gateway share this machine's cores.
 *
 *   npx tsx bench/gateway-handshakes.ts [--quick] [--n=2000] [--concurrency=64] [--out=result.json]
 */
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
import { machine, parseArgs, round, until, writeOut } from './support/stats.js';

const args = parseArgs();
const startMachine = machine();
const n = args.int('n', args.quick ? 100 : 2000);
const concurrency = args.int('concurrency', 64);
const dir = scratchDir('bench-handshakes');
let gateway: BenchGateway | undefined;
const fleets: BenchChild[] = [];

interface Phase {
  label: string;
  connected: number;
  attempted: number;
  ms: number;
  handshakesPerSecond: number;
  reused: number;
  gatewaySawResumed: number;
  protocols: Record<string, number>;
  distinctGatewaySessions: number;
  gatewaySessionsReplaced: number;
  gatewayHandshakesRejected: number;
  gatewayCpuPercent: number;
  gatewayCpuMsPerHandshake: number;
  fleetCpuMsPerHandshake: number;
}

async function phase(label: string, fleet: BenchChild): Promise<Phase> {
  const before = await gateway!.stats();
  const result = await fleet.call('connect', {}, 600_000);
  const after = await gateway!.stats();
  const gatewayCpuMs = (after.cpu.user - before.cpu.user + after.cpu.system - before.cpu.system) / 1000;
  const phaseResult: Phase = {
    label,
    connected: result.connected,
    attempted: result.attempted,
    ms: round(result.ms, 0),
    handshakesPerSecond: round((result.connected / result.ms) * 1000, 1),
    reused: result.reused,
    gatewaySawResumed: after.tlsResumed - before.tlsResumed,
    protocols: result.protocols,
    // Each device has its own name: anything less than `connected` means identities collapsed.
    distinctGatewaySessions: after.sessions,
    gatewaySessionsReplaced: after.metrics.sessionsReplaced - before.metrics.sessionsReplaced,
    gatewayHandshakesRejected: after.metrics.handshakesRejected - before.metrics.handshakesRejected,
    gatewayCpuPercent: cpuPercent(before.cpu, after.cpu, after.at - before.at),
    gatewayCpuMsPerHandshake: round(gatewayCpuMs / Math.max(1, result.connected), 3),
    fleetCpuMsPerHandshake: round(result.cpuMs / Math.max(1, result.connected), 3),
  };
  await fleet.call('close', { timeoutMs: 15_000 }, 30_000);
  await until('gateway to drop every session', async () => (await gateway!.stats()).sessions === 0, 30_000);
  return phaseResult;
}

try {
  gateway = await startGatewayProcess(dir, { heartbeatIntervalMs: 30_000 });
  const common = {
    home: gateway.home,
    endpoint: gateway.endpoint,
    count: n,
    concurrency,
    behaviour: 'ack' as const,
  };
  const full = await startFleetProcess(dir, 'fleet-full', { ...common, prefix: 'hs-full' });
  const resume = await startFleetProcess(dir, 'fleet-resume', {
    ...common,
    prefix: 'hs-resume',
    resumeTls: true,
  });
  const own = await startFleetProcess(dir, 'fleet-own', {
    ...common,
    prefix: 'hs-own',
    resumeTls: 'per-device',
  });
  fleets.push(full, resume, own);
  const prepared = await Promise.all(fleets.map((f) => f.call('prepare', {}, 600_000)));

  const phases: Phase[] = [];
  phases.push(await phase('full handshake', full));
  phases.push(await phase('resumeTls: true (one shared ticket)', resume));
  // Each device resumes its own session: connect once (full handshakes), then again.
  const ownFirst = await phase("resumeTls: 'per-device', 1st connect", own);
  phases.push(await phase("resumeTls: 'per-device', reconnect", own));
  void ownFirst;

  const result = {
    benchmark: 'gateway-handshakes',
    machine: startMachine,
    n,
    concurrency,
    certificateIssueMs: prepared.map((p) => round(p.ms, 0)),
    phases,
    loadAverageAtEnd: machine().loadAverage,
    gatewayWarnings: gatewayWarnings(gateway.logFile),
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(
    '\n| mode | connections | concurrency | wall | handshakes/s | resumed (gateway saw) | distinct sessions | gateway CPU ms/handshake | fleet CPU ms/handshake |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const p of phases) {
    console.log(
      `| ${p.label} | ${p.connected}/${p.attempted} | ${concurrency} | ${p.ms} ms | ${p.handshakesPerSecond} | ${p.gatewaySawResumed} | ${p.distinctGatewaySessions} | ${p.gatewayCpuMsPerHandshake} | ${p.fleetCpuMsPerHandshake} |`,
    );
  }
  writeOut(args.string('out'), result);
} finally {
  await cleanup(dir, gateway, fleets, args.flag('keep-logs'));
}
