/**
 * Provisioning throughput on PostgreSQL: one device host + one gateway next to two device hosts
 * + two gateways, in one run. Each shape is a fresh real platform (test/support/platform.ts:
 * file-backed Temporal dev server, worker, web, gateways, device hosts, PostgreSQL of its own),
 * started the way test/many-hosts.test.ts starts several hosts (WASMBED_START_HOST=false, each
 * host with its own id and data dir) and gateways. Per shape: one warm-up device, then `--api`
 * devices created through the API by 32 clients until all are Connected (devices/s, CPU per
 * device by process, bench/support/provisioning-bench.ts), and how they spread over hosts and
 * gateways. `--rounds=2` runs the shapes twice, alternating, so both see the same machine load.
 *
 *   npx tsx bench/many-hosts-provisioning.ts [--api=100] [--rounds=1] [--mcu=Mps2An385] [--out=file.json]
 */
import { loadConfig } from '../common/config.js';
import { openPlatform } from '../platform/context.js';
import { startTestPlatform, type TestPlatform } from '../test/support/platform.js';
import { waitFor } from '../test/support/wait.js';
import { loadAverage, provisioningBench } from './support/provisioning-bench.js';
import { machine, parseArgs, round, writeOut } from './support/stats.js';

const args = parseArgs();
const apiCount = args.int('api', 100);
const rounds = args.int('rounds', 1);
const mcu = args.string('mcu') ?? 'Mps2An385';
const log = (line: string) =>
  process.stderr.write(
    `[many-hosts ${new Date().toISOString().slice(11, 19)}] ${line} (load ${loadAverage()})\n`,
  );

interface Shape {
  label: string;
  hosts: number;
  gateways: number;
}
const SHAPES: Shape[] = [
  { label: '1 device host + 1 gateway', hosts: 1, gateways: 1 },
  { label: '2 device hosts + 2 gateways', hosts: 2, gateways: 2 },
];

async function startShape(shape: Shape): Promise<TestPlatform> {
  const platform = await startTestPlatform({
    durableTemporal: true,
    postgres: true,
    env: {
      WASMBED_HEARTBEAT_INTERVAL_MS: '5000',
      WASMBED_HEARTBEAT_TIMEOUT_MS: '15000',
      // The worker starts the one host itself; several hosts are started on their own.
      ...(shape.hosts > 1 ? { WASMBED_START_HOST: 'false' } : {}),
    },
  });
  for (let g = 1; g < shape.gateways; g++) {
    await platform.startGateway(`gateway-${g}`);
  }
  if (shape.hosts > 1) {
    for (let h = 0; h < shape.hosts; h++) {
      const id = `host-${String.fromCharCode(97 + h)}`;
      await platform.start('host', {
        name: id,
        env: { WASMBED_HOST_ID: id, WASMBED_HOST_DATA_DIR: `${platform.home}/hosts/${id}` },
      });
    }
  } else {
    await waitFor('device host up', () => platform.hostPid() !== undefined, 120_000);
  }
  return platform;
}

async function measure(shape: Shape, round_: number) {
  log(`${shape.label}: starting (round ${round_ + 1})`);
  const platform = await startShape(shape);
  const context = await openPlatform(loadConfig(platform.env));
  try {
    const bench = provisioningBench(platform, context.store, { mcu });
    await bench.create('warmup');
    await bench.untilConnected(['warmup'], 300_000);
    const loadBefore = loadAverage();
    const names = Array.from({ length: apiCount }, (_, i) => `api-${i}`);
    const burst = await bench.apiBurst(names);
    const devices = (await bench.devices()).filter((d) => d.metadata.name.startsWith('api-'));
    const count = (key: (d: (typeof devices)[number]) => string | undefined) => {
      const counts: Record<string, number> = {};
      for (const d of devices) counts[key(d) ?? '?'] = (counts[key(d) ?? '?'] ?? 0) + 1;
      return counts;
    };
    const result = {
      shape: shape.label,
      round: round_ + 1,
      devices: apiCount,
      acceptedPerS: burst.acceptedPerS,
      allConnectedS: round(burst.seconds, 1),
      devicesPerS: burst.devicesPerS,
      cpuMsPerDevice: burst.cpuMsPerDevice,
      cpuMsPerDeviceAll: Object.entries(burst.cpuMsPerDevice)
        .filter(([name]) => name !== 'bench')
        .reduce((a, [, ms]) => a + ms, 0),
      byHost: count((d) => d.status.host),
      byGateway: count((d) => d.status.gateway?.name),
      loadAverage: `${loadBefore} → ${loadAverage()}`,
    };
    log(JSON.stringify(result));
    return result;
  } finally {
    await context.close();
    await platform.stop();
  }
}

const startMachine = machine();
const results: Awaited<ReturnType<typeof measure>>[] = [];
for (let r = 0; r < rounds; r++) {
  for (const shape of r % 2 === 0 ? SHAPES : [...SHAPES].reverse()) results.push(await measure(shape, r));
}
console.log(
  `\n${apiCount} devices through the API (32 clients) on PostgreSQL; load average at start ${startMachine.loadAverage.join(' ')}`,
);
console.log(
  '| shape | round | all Connected | devices/s | CPU ms per device (all platform processes) | by host | by gateway | load avg |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of results) {
  console.log(
    `| ${r.shape} | ${r.round} | ${r.allConnectedS} s | ${r.devicesPerS} | ${r.cpuMsPerDeviceAll} (${Object.entries(
      r.cpuMsPerDevice,
    )
      .map(([n, ms]) => `${n} ${ms}`)
      .join(', ')}) | ${JSON.stringify(r.byHost)} | ${JSON.stringify(r.byGateway)} | ${r.loadAverage} |`,
  );
}
const single = results.filter((r) => r.shape === SHAPES[0]!.label);
const many = results.filter((r) => r.shape === SHAPES[1]!.label);
const best = (list: typeof results) => Math.max(...list.map((r) => r.devicesPerS));
console.log(
  `\n2 hosts + 2 gateways ÷ 1 + 1, devices/s (best round each): ${round(best(many) / best(single), 2)}`,
);
writeOut(args.string('out'), { machine: startMachine, apiCount, rounds, results });
process.exit(0);
