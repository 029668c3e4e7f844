/**
 * Recovery benchmarks on a real platform: time from killing a device's process to Connected
 * again with its app running (median of 10), and time for N devices (default 100) to be
 * back after a kill -9 and restart of their gateway. `npx tsx bench/recovery.ts [--devices=100]`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { startTestPlatform, type TestPlatform } from '../test/support/platform.js';
import { waitFor } from '../test/support/wait.js';

const devicesArg = process.argv.find((a) => a.startsWith('--devices='));
const fleetSize = devicesArg ? Number(devicesArg.split('=')[1]) : 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function phase(platform: TestPlatform, name: string): Promise<string | undefined> {
  return (await platform.api('GET', `/api/v1/devices/${name}`)).body?.status?.phase;
}

async function healthDevices(platform: TestPlatform): Promise<string[]> {
  return ((await (await fetch(`${platform.gatewayHealthUrl}/healthz`)).json()) as { devices: string[] })
    .devices;
}

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    min: sorted[0],
    median: sorted[Math.floor(sorted.length / 2)],
    max: sorted.at(-1),
  };
}

await buildApps({ log: () => {} });
const platform = await startTestPlatform({
  env: {
    WASMBED_HEARTBEAT_INTERVAL_MS: '2000',
    WASMBED_HEARTBEAT_TIMEOUT_MS: '6000',
    WASMBED_LIFECYCLE_CHECK_MS: '5000',
    WASMBED_LIFECYCLE_GRACE_MS: '1000',
  },
});
try {
  // 1. Kill a device process; measure until it is Connected with its app Running again.
  await platform.api('POST', '/api/v1/devices', { name: 'victim' });
  await waitFor('victim', async () => (await phase(platform, 'victim')) === 'Connected', 120_000, 50);
  await platform.api('POST', '/api/v1/applications', {
    name: 'victim-blinky',
    module: fs.readFileSync(path.join(DIST_DIR, 'blinky.wasm')).toString('base64'),
    target: { devices: ['victim'] },
  });
  await waitFor('blinky', async () => {
    const a = (await platform.api('GET', '/api/v1/applications/victim-blinky')).body;
    return a.status?.phase === 'Running';
  });
  const recoveries: number[] = [];
  for (let i = 0; i < 10; i++) {
    const [pid] = platform.deviceProcesses('victim');
    const killedAt = Date.now();
    await platform.killDevice('victim');
    await waitFor(
      'new process',
      () => platform.deviceProcesses('victim').some((p) => p !== pid),
      120_000,
      20,
    );
    await waitFor(
      'victim back with blinky',
      async () => {
        const d = (await platform.api('GET', '/api/v1/devices/victim')).body;
        const app = d.status?.apps?.['victim-blinky'];
        return (
          d.status?.phase === 'Connected' && app?.state === 'Running' && Date.parse(app.since) > killedAt
        );
      },
      120_000,
      20,
    );
    recoveries.push(Date.now() - killedAt);
  }

  // 2. N devices, kill -9 their gateway, start it again, measure until all sessions are back.
  for (let i = 0; i < fleetSize; i++) await platform.api('POST', '/api/v1/devices', { name: `herd-${i}` });
  await waitFor(
    'herd connected',
    async () => (await healthDevices(platform)).length >= fleetSize + 1,
    600_000,
    500,
  );
  const gateway = platform.processes.get('gateway')!;
  const killedAt = Date.now();
  gateway.kill('SIGKILL');
  await new Promise((r) => gateway.once('exit', r));
  await platform.start('gateway');
  const restartedAt = Date.now();
  await waitFor(
    'herd back',
    async () => (await healthDevices(platform)).length >= fleetSize + 1,
    600_000,
    200,
  );
  const allBack = Date.now();
  await sleep(500);

  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(
    JSON.stringify(
      {
        machine,
        deviceKillToConnectedWithApp: stats(recoveries),
        gatewayRestart: {
          devices: fleetSize,
          killToAllBackMs: allBack - killedAt,
          gatewayUpToAllBackMs: allBack - restartedAt,
        },
      },
      null,
      2,
    ),
  );
} finally {
  await platform.stop();
}
