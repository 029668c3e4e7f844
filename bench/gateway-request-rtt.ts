/**
 * Request/ack round trip measured on the gateway side: with S sessions connected (a fleet
 * process answering like Fleet behaviour 'ack'), the gateway process sends StopApplication
 * round robin over its sessions and times each StopAck — one at a time, then with 100 in
 * flight. Gateway and fleet share this machine's cores.
 *
 *   npx tsx bench/gateway-request-rtt.ts [--quick] [--sessions=1000] [--requests=10000]
 *                                        [--in-flight=100] [--out=result.json]
 */
import {
  cleanup,
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
const sessions = args.int('sessions', args.quick ? 50 : 1000);
const requests = args.int('requests', args.quick ? 500 : 10_000);
const inFlight = args.int('in-flight', 100);
const dir = scratchDir('bench-rtt');
let gateway: BenchGateway | undefined;
const fleets: BenchChild[] = [];

try {
  gateway = await startGatewayProcess(dir, { heartbeatIntervalMs: 30_000 });
  const fleet = await startFleetProcess(dir, 'fleet', {
    home: gateway.home,
    endpoint: gateway.endpoint,
    prefix: 'rtt',
    count: sessions,
    concurrency: 64,
    behaviour: 'ack',
  });
  fleets.push(fleet);
  await fleet.call('prepare', {}, 600_000);
  const connected = await fleet.call('connect', {}, 600_000);
  await until(
    'gateway to register every session',
    async () => (await gateway!.stats()).sessions >= connected.connected,
    30_000,
  );

  const run = (n: number, k: number) =>
    gateway!.child.call('rtt', { requests: n, inFlight: k, timeoutMs: 10_000 }, 600_000);
  await run(Math.min(1000, requests), 10); // warm-up (JIT, TLS buffers)
  const sequential = await run(requests, 1);
  const concurrent = await run(requests, inFlight);
  const after = await gateway.stats();

  const result = {
    benchmark: 'gateway-request-rtt',
    machine: startMachine,
    sessions: after.sessions,
    sequential,
    concurrent,
    gatewayRequestOutcomes: after.metrics.requestOutcomes,
    loadAverageAtEnd: machine().loadAverage,
    gatewayWarnings: gatewayWarnings(gateway.logFile),
  };
  console.log(JSON.stringify(result, null, 2));
  console.log('\n| sessions | requests | in flight | p50 | p90 | p99 | max | requests/s | failed |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of [sequential, concurrent]) {
    const l = r.latencyMs;
    const failed = Object.values(r.failures as Record<string, number>).reduce((a, b) => a + b, 0);
    console.log(
      `| ${r.sessions} | ${r.requests} | ${r.inFlight} | ${l.p50} ms | ${l.p90} ms | ${l.p99} ms | ${l.max} ms | ${round(r.perSecond, 0)} | ${failed} |`,
    );
  }
  writeOut(args.string('out'), result);
} finally {
  await cleanup(dir, gateway, fleets, args.flag('keep-logs'));
}
