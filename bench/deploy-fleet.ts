/**
 * Deploys a 64 KiB module to N connected virtual devices (default 200) on a real platform
 * and measures the time from `POST /api/v1/applications` until every device has acked
 * (AllAtOnce). `npx tsx bench/deploy-fleet.ts [--devices=200]`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { startTestPlatform } from '../test/support/platform.js';
import { waitFor } from '../test/support/wait.js';
import { padToSize } from '../test/support/wasm-padding.js';

const arg = process.argv.find((a) => a.startsWith('--devices='));
const count = arg ? Number(arg.split('=')[1]) : 200;

await buildApps({ log: () => {} });
const platform = await startTestPlatform({
  env: {
    WASMBED_HEARTBEAT_INTERVAL_MS: '10000',
    WASMBED_HEARTBEAT_TIMEOUT_MS: '30000',
    WASMBED_LIFECYCLE_CHECK_MS: '30000',
  },
});
try {
  const provisionStart = Date.now();
  for (let i = 0; i < count; i++) {
    // Mps2An385: its 128 KiB app budget takes the 64 KiB module (a Stm32F746gDisco takes 32 KiB)
    const res = await platform.api('POST', '/api/v1/devices', { name: `fleet-${i}`, mcuType: 'Mps2An385' });
    if (res.status !== 202) throw new Error(`create fleet-${i}: ${res.status}`);
  }
  await waitFor(
    'all connected',
    async () => {
      const list = (await platform.api('GET', '/api/v1/devices')).body.items as {
        status: { phase: string };
      }[];
      return list.filter((d) => d.status.phase === 'Connected').length === count;
    },
    1_200_000,
    1000,
  );
  const provisionedMs = Date.now() - provisionStart;

  const module = padToSize(fs.readFileSync(path.join(DIST_DIR, 'hello.wasm')), 64 * 1024);
  const started = Date.now();
  const res = await platform.api('POST', '/api/v1/applications', {
    name: 'big-hello',
    wasm: module.toString('base64'),
    target: { all: true },
  });
  if (res.status !== 202) throw new Error(`deploy: ${res.status} ${JSON.stringify(res.body)}`);
  const acked = await waitFor(
    'all acked',
    async () => {
      const a = (await platform.api('GET', '/api/v1/applications/big-hello')).body;
      const states = Object.values(a.status?.devices ?? {}) as { state: string }[];
      const done = states.filter(
        (s) => s.state === 'Running' || s.state === 'Exited' || s.state === 'Failed',
      ).length;
      return states.length === count && done === count ? Date.now() - started : undefined;
    },
    600_000,
    100,
  );
  const settled = await waitFor(
    'rollout settled',
    async () => {
      const a = (await platform.api('GET', '/api/v1/applications/big-hello')).body;
      return ['Running', 'PartiallyRunning', 'RolledBack', 'Failed'].includes(a.status?.phase)
        ? a
        : undefined;
    },
    600_000,
    200,
  );
  console.log(
    JSON.stringify(
      {
        machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
        devices: count,
        moduleBytes: module.length,
        provisionAllMs: provisionedMs,
        allAckedMs: acked,
        phase: settled.status.phase,
        counts: settled.status.counts,
      },
      null,
      2,
    ),
  );
} finally {
  await platform.stop();
}
