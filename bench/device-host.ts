/**
 * The device host at fleet scale, on a real platform (file-backed Temporal dev server as
 * `npm start` runs it, orchestrator, gateway, web, device host):
 *   - one device at a time, create → Connected (median);
 *   - 50 created at once: wall time until all are Connected;
 *   - N created through the API as fast as it takes them: devices/s, and the same number of
 *     empty workflows of provisioning's shape on the same dev server (the ceiling), as a ratio;
 *   - the whole fleet idle: PSS of every platform process after minus before, per device, and
 *     the CPU they use;
 *   - a 64 KiB module deployed to all: until every device acked;
 *   - kill -9 of the device host: until every device is Connected again with its app Running.
 *
 *   npx tsx bench/device-host.ts [--devices=1000] [--api=500]
 *                                [--single=10] [--mcu=Mps2An385] [--ceiling=N]
 *                                [--skip=ceiling,deploy,kill]
 *
 * Devices are Mps2An385 by default: its app budget (128 KiB, common/mcu-profiles.ts) takes the
 * 64 KiB module; the default board's (Stm32F746gDisco) is 32 KiB. Every number is logged with
 * the load average at the time it was taken (the machine is shared).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from '@temporalio/worker';
import { NativeConnection } from '@temporalio/worker';
import { paths } from '../common/config.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { DEVICE_ATTRIBUTE, PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { startTestPlatform } from '../test/support/platform.js';
import { waitFor } from '../test/support/wait.js';
import { padToSize } from '../test/support/wasm-padding.js';
import {
  emptyLifecycle,
  emptyProvisioning,
  type EmptyActivities,
  type ProvisioningShape,
} from './support/empty-provisioning.js';
import { fleetTimeline } from './support/fleet-timeline.js';
import {
  cpuTicks,
  loadAverage,
  provisioningBench,
  pssKiB,
  TICKS_PER_S,
} from './support/provisioning-bench.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    api: { type: 'string', default: '500' },
    single: { type: 'string', default: '10' },
    mcu: { type: 'string', default: 'Mps2An385' },
    /** Empty workflows per ceiling round (default: as many as --api). */
    ceiling: { type: 'string' },
    skip: { type: 'string', default: '' },
  },
});
const fleetSize = Number(values.devices);
const apiCount = Number(values.api);
const skip = new Set(values.skip!.split(',').filter(Boolean));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line} (load ${loadAverage()})\n`);
/** WASMBED_BENCH_TRACE=1: the fleet's counts, logged as they change, during the deploy and the kill. */
const trace = (since: number, hostUp?: () => boolean) =>
  process.env.WASMBED_BENCH_TRACE
    ? fleetTimeline({ devices, app: 'big-blinky', since, hostUp, log })
    : { stop: async () => [] };

await buildApps({ log: () => {} });
const platform = await startTestPlatform({
  durableTemporal: true,
  env: {
    WASMBED_HEARTBEAT_INTERVAL_MS: '5000',
    WASMBED_HEARTBEAT_TIMEOUT_MS: '15000',
  },
});
const db = openDatabase(paths.db(platform.home));
const store = new SqliteResourceStore(db);
const { devices, connected, create, untilConnected, platformPids, cpuProfile, apiBurst } = provisioningBench(
  platform,
  store,
  { mcu: values.mcu! },
);

/**
 * `count` empty workflows of provisioning's shape at once: completed per second, and the CPU the
 * dev server and this process (both workers) spent per workflow. Workers are made once.
 */
async function emptyWorkflows(): Promise<{
  run(count: number, shape: ProvisioningShape, round: number): Promise<Record<string, number>>;
  close(): Promise<void>;
}> {
  const connection = await NativeConnection.connect({ address: platform.temporal.address });
  const queue = 'bench-empty';
  const remoteQueue = 'bench-empty-remote';
  const activities: EmptyActivities = {
    nothing: async () => undefined,
    async startLifecycle(id, taskQueue) {
      await platform.client.workflow.start(emptyLifecycle, {
        taskQueue,
        workflowId: `empty-lifecycle-${id}`,
        args: [{ markers: true }],
        typedSearchAttributes: [
          { key: DEVICE_ATTRIBUTE, value: id },
          { key: PHASE_ATTRIBUTE, value: 'Connected' },
        ],
      });
    },
  };
  const workflowWorker = await Worker.create({
    connection,
    taskQueue: queue,
    workflowsPath: path.join(import.meta.dirname, 'support', 'empty-provisioning.ts'),
    activities,
  });
  // The remote queue plays the device host: its worker runs the host child's workflow too.
  const remoteWorker = await Worker.create({
    connection,
    taskQueue: remoteQueue,
    workflowsPath: path.join(import.meta.dirname, 'support', 'empty-provisioning.ts'),
    activities,
  });
  const running = Promise.all([workflowWorker.run(), remoteWorker.run()]);
  // An onHost run starts on the remote queue (the host's), the others on the orchestrator's;
  // with the search attributes the API starts provisioning with (services/device-service.ts).
  const execute = (id: string, shape: ProvisioningShape) => {
    const onHost = shape !== 'hostChild' && shape !== 'sequential';
    return platform.client.workflow.execute(emptyProvisioning, {
      taskQueue: onHost ? remoteQueue : queue,
      workflowId: `empty-${id}`,
      args: [{ remoteQueue: onHost ? queue : remoteQueue, lifecycleQueue: queue, id, shape }],
      ...(shape === 'onHost' || shape === 'onHostLifecycleChild'
        ? {
            typedSearchAttributes: [
              { key: DEVICE_ATTRIBUTE, value: id },
              { key: PHASE_ATTRIBUTE, value: 'Provisioning' },
            ],
          }
        : {}),
    });
  };
  return {
    async run(count, shape, round) {
      await execute(`warmup-${shape}-${round}`, shape);
      const temporal = [platform.temporal.process.pid!];
      const ticks = cpuTicks(temporal);
      const own = process.cpuUsage();
      const started = Date.now();
      await Promise.all(Array.from({ length: count }, (_, i) => execute(`${shape}-${round}-${i}`, shape)));
      const seconds = (Date.now() - started) / 1000;
      const workers = process.cpuUsage(own);
      return {
        perS: Math.round((count / seconds) * 10) / 10,
        temporalCpuMsPerWorkflow: Math.round(((cpuTicks(temporal) - ticks) * 10) / count),
        workerCpuMsPerWorkflow: Math.round((workers.user + workers.system) / 1000 / count),
      };
    },
    async close() {
      workflowWorker.shutdown();
      remoteWorker.shutdown();
      await running;
      await connection.close();
    },
  };
}

const result: Record<string, unknown> = {
  machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} at start`,
};
try {
  await waitFor('device host up', () => platform.hostPid() !== undefined, 60_000);
  await create('warmup');
  await untilConnected(['warmup']);
  await sleep(2000);
  const before = { pss: pssKiB(platformPids()), devices: 1 };

  const single: number[] = [];
  for (let i = 0; i < Number(values.single); i++) {
    const t = Date.now();
    await create(`single-${i}`);
    single.push((await untilConnected([`single-${i}`], 120_000, 10)) - t);
  }
  single.sort((a, b) => a - b);
  result.singleMedianMs = single[Math.floor(single.length / 2)];
  result.singleMs = single;
  log(`one at a time: median ${result.singleMedianMs} ms`);

  const burst = Array.from({ length: 50 }, (_, i) => `burst-${i}`);
  let t = Date.now();
  await Promise.all(burst.map(create));
  result.burst50Ms = (await untilConnected(burst)) - t;
  log(`50 at once: ${result.burst50Ms} ms`);

  const api = Array.from({ length: apiCount }, (_, i) => `api-${i}`);
  // The burst's CPU, by process, in ms per device: where provisioning's cost goes.
  const apiRun = await apiBurst(api);
  result.apiAcceptedPerS = apiRun.acceptedPerS;
  result.apiDevicesPerS = apiRun.devicesPerS;
  result.apiCpuMsPerDevice = apiRun.cpuMsPerDevice;
  log(`${apiCount} through the API: ${result.apiDevicesPerS} devices/s`);
  log(`CPU per device (ms): ${JSON.stringify(result.apiCpuMsPerDevice)}`);

  if (!skip.has('ceiling')) {
    // Every shape provisioning has had, the same way, alternating (two rounds each): the ceiling
    // is that of the shape it runs now (onHost, empty-provisioning.ts), with its search
    // attributes and patch markers; onHostLifecycleChild as it was before the lifecycle was
    // started by an activity; onHostBare without attributes, as the ceiling was measured before.
    const empty = await emptyWorkflows();
    try {
      const shapes: ProvisioningShape[] = [
        'onHost',
        'onHostLifecycleChild',
        'onHostBare',
        'hostChild',
        'sequential',
      ];
      const rounds = Object.fromEntries(shapes.map((shape) => [shape, [] as Record<string, number>[]]));
      for (let round = 0; round < 2; round++) {
        for (const shape of shapes) {
          await sleep(3000);
          const r = await empty.run(Number(values.ceiling ?? apiCount), shape, round);
          rounds[shape]!.push(r);
          log(`empty workflows, ${shape}: ${JSON.stringify(r)}`);
        }
      }
      result.emptyWorkflows = rounds;
      const best = Math.max(...rounds.onHost!.map((r) => r.perS!));
      result.emptyWorkflowCeilingPerS = best;
      result.ratioToCeiling = Math.round(((result.apiDevicesPerS as number) / best) * 100) / 100;
      const bare = Math.max(...rounds.onHostBare!.map((r) => r.perS!));
      result.ratioToBareCeiling = Math.round(((result.apiDevicesPerS as number) / bare) * 100) / 100;
      log(
        `ceiling ${best}/s, ratio ${result.ratioToCeiling} (without attributes ${bare}/s, ${result.ratioToBareCeiling})`,
      );
      // Rates if the machine's cores did nothing else: the empty workflows alone (dev server and
      // the SDK's workers, no device, gateway or store work) and real provisioning (every
      // platform process and this bench's API client, as apiCpuMsPerDevice counts them). The
      // first bounds what any provisioning of this shape can reach here.
      const cores = os.availableParallelism();
      const emptyCpuMs = Math.min(
        ...rounds.onHost!.map((r) => r.temporalCpuMsPerWorkflow! + r.workerCpuMsPerWorkflow!),
      );
      const realCpuMs = Object.values(result.apiCpuMsPerDevice as Record<string, number>).reduce(
        (a, b) => a + b,
        0,
      );
      const cpuBound = {
        emptyWorkflows: Math.round((cores * 1000 * 10) / emptyCpuMs) / 10,
        provisioning: Math.round((cores * 1000 * 10) / realCpuMs) / 10,
      };
      result.cpuBoundPerS = cpuBound;
      log(
        `CPU-bound on ${cores} cores: empty workflows ${emptyCpuMs} ms each → ` +
          `${cpuBound.emptyWorkflows}/s; provisioning ${realCpuMs} ms → ${cpuBound.provisioning}/s`,
      );
    } finally {
      await empty.close();
    }
  }

  // Top the fleet up to its full size, then let it idle.
  const have = 1 + single.length + burst.length + api.length;
  const rest = Array.from({ length: Math.max(0, fleetSize - have) }, (_, i) => `fleet-${i}`);
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < rest.length) await create(rest[next++]!);
    }),
  );
  await waitFor(
    'whole fleet Connected',
    async () => (await connected()) === (await devices()).length,
    1_800_000,
    1000,
  );
  const total = (await devices()).length;
  await sleep(20_000);
  const pids = platformPids();
  const pss = pssKiB(pids);
  const ticks0 = cpuTicks(pids);
  // By process too (CPU ms over the 30 s; ms / 300 = % of one core).
  const idleByProcess = await cpuProfile(1, async () => {
    await sleep(30_000);
  });
  const cpuPercent = ((cpuTicks(pids) - ticks0) / TICKS_PER_S / 30) * 100;
  result.idle = {
    devices: total,
    pssTotalMiB: Math.round(pss / 1024),
    pssPerDeviceMiB: Math.round(((pss - before.pss) / 1024 / (total - before.devices)) * 100) / 100,
    cpuPercentOfOneCore: Math.round(cpuPercent * 10) / 10,
    cpuPercentOfOneCoreByProcess: Object.fromEntries(
      Object.entries(idleByProcess).map(([n, ms]) => [n, Math.round(ms / 30) / 10]),
    ),
  };
  log(`idle: ${JSON.stringify(result.idle)}`);

  if (!skip.has('deploy')) {
    const module = padToSize(fs.readFileSync(path.join(DIST_DIR, 'blinky.wasm')), 64 * 1024);
    t = Date.now();
    const timeline = trace(t);
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'big-blinky',
      wasm: module.toString('base64'),
      target: { all: true },
    });
    if (res.status !== 202) throw new Error(`deploy: ${res.status} ${JSON.stringify(res.body)}`);
    await waitFor(
      'all acked',
      async () => {
        const acked = (await devices()).filter((d) => {
          const s = (d.status.apps['big-blinky'] as { state?: string } | undefined)?.state;
          return s === 'Running' || s === 'Exited' || s === 'Failed';
        }).length;
        return acked === total;
      },
      900_000,
      100,
    );
    result.deploy64KiBAllAckedMs = Date.now() - t;
    await timeline.stop();
    log(`64 KiB to ${total}: ${result.deploy64KiBAllAckedMs} ms`);
    // The fleet idle again, every device with its app running (blinky sleeps between toggles):
    // what the apps' threads and instances add to the idle fleet's PSS.
    await sleep(20_000);
    const pssWithApps = pssKiB(platformPids());
    result.idleWithApps = {
      pssTotalMiB: Math.round(pssWithApps / 1024),
      pssPerDeviceMiB: Math.round(((pssWithApps - before.pss) / 1024 / (total - before.devices)) * 100) / 100,
      appPssPerDeviceMiB: Math.round(((pssWithApps - pss) / 1024 / total) * 100) / 100,
    };
    log(`idle with apps: ${JSON.stringify(result.idleWithApps)}`);
  }

  if (!skip.has('kill')) {
    await sleep(10_000);
    const hostPid = platform.hostPid()!;
    const killedAt = Date.now();
    process.kill(hostPid, 'SIGKILL');
    const timeline = trace(killedAt, () => platform.hostPid() !== undefined);
    // Without an app to watch restart, "back" must follow "gone": the store says Connected until
    // the gateway has reported the sessions lost.
    if (skip.has('deploy'))
      await waitFor('devices seen down', async () => (await connected()) < total, 120_000, 50);
    await waitFor(
      'all back with the app',
      async () =>
        (await devices()).every((d) => {
          const app = d.status.apps['big-blinky'] as { state?: string; since?: string } | undefined;
          return (
            d.status.phase === 'Connected' &&
            (skip.has('deploy') || (app?.state === 'Running' && Date.parse(app.since ?? '') > killedAt))
          );
        }),
      900_000,
      200,
    );
    result.killHostAllBackMs = Date.now() - killedAt;
    await timeline.stop();
    log(`kill -9 host with ${total}: all back in ${result.killHostAllBackMs} ms`);
  }
  result.loadAverageAtEnd = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  console.log(JSON.stringify(result, null, 2));
} finally {
  db.close();
  await platform.stop();
}
