/**
 * The app thread pool on its own (device/apps/pool.ts), without a platform: N devices' runtimes
 * share one pool, each gets the 64 KiB blinky at once.
 *   - deploy: wall time and process CPU until every app is Running (one module preparation,
 *     N instantiations), and the pool's threads;
 *   - idle: PSS of this process per app, with every app running (blinky sleeps between toggles);
 *   - a runaway app (1000 ms budget) beside them: how late the sleeping apps of the same thread
 *     toggle meanwhile, and those of the other threads.
 *
 *   npx tsx bench/app-threads.ts [--apps=1000] [--threads=2,4,8]
 *
 * Each thread count runs in a fresh child process so that memory and caches start the same.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AppRuntime } from '../device/apps/runtime.js';
import { AppThreadPool } from '../device/apps/pool.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { padToSize } from '../test/support/wasm-padding.js';
import { waitFor } from '../test/support/wait.js';
import { loadAverage, pssKiB } from './support/provisioning-bench.js';

const { values } = parseArgs({
  options: {
    apps: { type: 'string', default: '1000' },
    threads: { type: 'string', default: '2,4,8' },
    child: { type: 'boolean', default: false },
  },
});
const apps = Number(values.apps);
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (!values.child) {
  await buildApps({ only: ['blinky', 'faulty'], log: () => {} });
  for (const threads of values.threads!.split(',')) {
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', import.meta.filename, '--child', `--apps=${apps}`, `--threads=${threads}`],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    console.log(out.trim());
  }
} else {
  const threads = Number(values.threads);
  const module = padToSize(fs.readFileSync(path.join(DIST_DIR, 'blinky.wasm')), 64 * 1024);
  const pool = new AppThreadPool({ threads });
  const runtimes = Array.from({ length: apps }, () => new AppRuntime({ maxMemoryPages: 32, pool }));
  const pssBefore = pssKiB([process.pid]);
  const cpu0 = cpuMs();
  const t0 = performance.now();
  const acks = await Promise.all(
    runtimes.map((rt) =>
      rt.deploy({
        appId: 'blinky',
        module,
        env: { PIN: '0', PERIOD_MS: '1000' },
        limits: { memoryPages: 32, cpuMsPerCall: null },
      }),
    ),
  );
  const deployMs = performance.now() - t0;
  const deployCpuMs = cpuMs() - cpu0;
  if (acks.some((a) => !a.ok)) throw new Error(`deploy failed: ${acks.find((a) => !a.ok)?.error}`);
  await sleep(10_000);
  const pssPerAppKiB = (pssKiB([process.pid]) - pssBefore) / apps;

  // A runaway app on the pool: the sleeping apps' toggles meanwhile, per thread (blinky toggles
  // every 500 ms: a gap longer than that is lateness).
  const spinner = new AppRuntime({ maxMemoryPages: 32, pool });
  const last = runtimes.map((rt) => rt.gpioWrites(0));
  const lastAt = runtimes.map(() => performance.now());
  const worstGap = runtimes.map(() => 0);
  const sampler = setInterval(() => {
    const t = performance.now();
    runtimes.forEach((rt, i) => {
      const w = rt.gpioWrites(0);
      if (w !== last[i]) {
        worstGap[i] = Math.max(worstGap[i]!, t - lastAt[i]!);
        last[i] = w;
        lastAt[i] = t;
      }
    });
  }, 20);
  await spinner.deploy({
    appId: 'spin',
    module: fs.readFileSync(path.join(DIST_DIR, 'faulty.wasm')),
    entry: 'spin',
    limits: { memoryPages: 2, cpuMsPerCall: 1000 },
  });
  await waitFor('the spinner to fail', () => spinner.status('spin')[0]?.state === 'Failed', 10_000, 10);
  await sleep(1500);
  clearInterval(sampler);
  const result = {
    apps,
    threads,
    threadsUsed: pool.threadCount,
    deployAllRunningMs: Math.round(deployMs),
    deployCpuMs: Math.round(deployCpuMs),
    idlePssPerAppKiB: Math.round(pssPerAppKiB),
    worstToggleGapWithARunawayMs: Math.round(Math.max(...worstGap)),
    // Toggles are 500 ms apart: an app that waited well past that shared the runaway's thread.
    appsDelayedByTheRunaway: worstGap.filter((g) => g > 700).length,
    load: loadAverage(),
  };
  console.log(JSON.stringify(result));
  await Promise.all([...runtimes, spinner].map((rt) => rt.stopAll()));
  process.exit(0);
}
