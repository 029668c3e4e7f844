/**
 * Full mutual-TLS handshakes per second and gateway memory per session, by identity key type,
 * side by side in one run: device keys RSA-2048 and EC P-256, each against a gateway whose CA
 * and server key are RSA-2048 (the platform's default) and against an all-P-256 one.
 *
 * For each combination a gateway process is started alone (bench/support/gateway-process.ts,
 * fresh CA) and a fleet process connects N devices (each its own certificate, one shared key pair
 * per fleet), `concurrency` handshakes at a time, with no TLS resumption, after an unmeasured
 * warm-up of 50. Then, with all N sessions held, the gateway is measured after a forced GC: RSS
 * and JS heap per session = (after − before connecting) / sessions.
 *
 *   npx tsx bench/identity-handshakes.ts [--quick] [--n=2000] [--concurrency=64] [--out=result.json]
 */
import type { KeyType } from '../pki/index.js';
import {
  cleanup,
  gatewayWarnings,
  scratchDir,
  startFleetProcess,
  startGatewayProcess,
  type BenchGateway,
} from './support/gateway-bench.js';
import type { BenchChild } from './support/ipc.js';
import { kib, machine, parseArgs, round, until, writeOut } from './support/stats.js';

const args = parseArgs();
const startMachine = machine();
const n = args.int('n', args.quick ? 100 : 2000);
const concurrency = args.int('concurrency', 64);
const LABEL: Record<KeyType, string> = { rsa2048: 'RSA-2048', p256: 'P-256' };

interface Row {
  pki: string;
  deviceKey: string;
  connected: number;
  attempted: number;
  wallMs: number;
  handshakesPerSecond: number;
  gatewayCpuMsPerHandshake: number;
  fleetCpuMsPerHandshake: number;
  gatewayRssPerSessionKiB: number;
  gatewayHeapPerSessionKiB: number;
  protocols: Record<string, number>;
  loadAverage: number[];
}

async function measure(
  gateway: BenchGateway,
  fleet: BenchChild,
  pki: KeyType,
  deviceKey: KeyType,
): Promise<Row> {
  const before = await gateway.stats(true);
  const result = await fleet.call('connect', {}, 900_000);
  const afterConnect = await gateway.stats();
  const held = await gateway.stats(true);
  const cpuMs =
    (afterConnect.cpu.user - before.cpu.user + afterConnect.cpu.system - before.cpu.system) / 1000;
  const sessions = Math.max(1, held.sessions);
  const row: Row = {
    pki: `${LABEL[pki]} CA + server key`,
    deviceKey: LABEL[deviceKey],
    connected: result.connected,
    attempted: result.attempted,
    wallMs: round(result.ms, 0),
    handshakesPerSecond: round((result.connected / result.ms) * 1000, 1),
    gatewayCpuMsPerHandshake: round(cpuMs / Math.max(1, result.connected), 3),
    fleetCpuMsPerHandshake: round(result.cpuMs / Math.max(1, result.connected), 3),
    gatewayRssPerSessionKiB: kib((held.rss - before.rss) / sessions),
    gatewayHeapPerSessionKiB: kib((held.heapUsed - before.heapUsed) / sessions),
    protocols: result.protocols,
    loadAverage: machine().loadAverage,
  };
  await fleet.call('close', { timeoutMs: 15_000 }, 30_000);
  await until('gateway to drop every session', async () => (await gateway.stats()).sessions === 0, 60_000);
  return row;
}

const rows: Row[] = [];
const warnings: Record<string, Record<string, number>> = {};
// Each combination gets a gateway process of its own, so every row's memory is measured from a
// process that never held sessions before (a second fleet on the same gateway reuses the first's
// freed memory and looks cheaper than it is).
const combinations: [KeyType, KeyType][] = [
  ['rsa2048', 'rsa2048'],
  ['rsa2048', 'p256'],
  ['p256', 'p256'],
  ['p256', 'rsa2048'],
];
for (const [pki, deviceKey] of combinations) {
  const dir = scratchDir(`bench-identity-${pki}-${deviceKey}`);
  let gateway: BenchGateway | undefined;
  const fleets: BenchChild[] = [];
  try {
    gateway = await startGatewayProcess(dir, {
      heartbeatIntervalMs: 30_000,
      caKeyType: pki,
      serverKeyType: pki,
    });
    const fleetOf = async (name: string, count: number) => {
      const fleet = await startFleetProcess(dir, name, {
        home: gateway!.home,
        endpoint: gateway!.endpoint,
        count,
        concurrency,
        behaviour: 'ack',
        prefix: name,
        keyType: deviceKey,
      });
      fleets.push(fleet);
      await fleet.call('prepare', {}, 900_000);
      return fleet;
    };
    // Warm-up (JIT, OpenSSL tables), not measured: a few devices, connected and closed.
    const warm = await fleetOf(`warm-${deviceKey}`, Math.min(n, 50));
    await warm.call('connect', {}, 900_000);
    await warm.call('close', { timeoutMs: 15_000 }, 30_000);
    await until('warm-up sessions to go', async () => (await gateway!.stats()).sessions === 0, 60_000);
    rows.push(await measure(gateway, await fleetOf(`id-${deviceKey}`, n), pki, deviceKey));
    console.error(JSON.stringify(rows.at(-1)));
    warnings[`${pki}/${deviceKey}`] = gatewayWarnings(gateway.logFile);
  } finally {
    await cleanup(dir, gateway, fleets, args.flag('keep-logs'));
  }
}

const find = (pki: KeyType, key: KeyType) =>
  rows.find((r) => r.pki.startsWith(LABEL[pki]) && r.deviceKey === LABEL[key])!;
const ratios = (['rsa2048', 'p256'] as KeyType[]).map((pki) => {
  const rsa = find(pki, 'rsa2048');
  const ec = find(pki, 'p256');
  return {
    pki: rsa.pki,
    handshakesPerSecondP256OverRsa: round(ec.handshakesPerSecond / rsa.handshakesPerSecond, 2),
    gatewayCpuP256OverRsa: round(ec.gatewayCpuMsPerHandshake / rsa.gatewayCpuMsPerHandshake, 2),
    fleetCpuP256OverRsa: round(ec.fleetCpuMsPerHandshake / rsa.fleetCpuMsPerHandshake, 2),
    rssPerSessionP256OverRsa: round(ec.gatewayRssPerSessionKiB / rsa.gatewayRssPerSessionKiB, 2),
  };
});
const result = {
  benchmark: 'identity-handshakes',
  machine: startMachine,
  n,
  concurrency,
  rows,
  ratios,
  loadAverageAtEnd: machine().loadAverage,
  gatewayWarnings: warnings,
};
console.log(JSON.stringify(result, null, 2));
console.log(
  '\n| CA + gateway key | device key | connections | wall | handshakes/s | gateway CPU ms/handshake | fleet CPU ms/handshake | gateway RSS/session | gateway heap/session | load avg |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  console.log(
    `| ${r.pki.replace(' CA + server key', '')} | ${r.deviceKey} | ${r.connected}/${r.attempted} | ${r.wallMs} ms | ${r.handshakesPerSecond} | ${r.gatewayCpuMsPerHandshake} | ${r.fleetCpuMsPerHandshake} | ${r.gatewayRssPerSessionKiB} KiB | ${r.gatewayHeapPerSessionKiB} KiB | ${r.loadAverage[0]} |`,
  );
}
console.log(
  '\n| CA + gateway key | handshakes/s P-256 ÷ RSA | gateway CPU P-256 ÷ RSA | fleet CPU P-256 ÷ RSA | RSS/session P-256 ÷ RSA |',
);
console.log('| --- | --- | --- | --- | --- |');
for (const r of ratios) {
  console.log(
    `| ${r.pki.replace(' CA + server key', '')} | ${r.handshakesPerSecondP256OverRsa} | ${r.gatewayCpuP256OverRsa} | ${r.fleetCpuP256OverRsa} | ${r.rssPerSessionP256OverRsa} |`,
  );
}
writeOut(args.string('out'), result);
