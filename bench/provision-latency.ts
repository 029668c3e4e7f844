/**
 * Provisioning latency, create → Connected, on a real platform (Temporal dev server,
 * orchestrator, gateway, web, device processes): one device at a time (median of 10), then
 * 50 devices created at once. Run with `npm run bench`; numbers go to BENCHMARKS.md.
 */
import os from 'node:os';
import { startTestPlatform, type TestPlatform } from '../test/support/platform.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connectedAfter(platform: TestPlatform, name: string, started: number): Promise<number> {
  for (;;) {
    const res = await platform.api('GET', `/api/v1/devices/${name}`);
    if (res.body?.status?.phase === 'Connected') return Date.now() - started;
    if (res.body?.status?.phase === 'Failed') throw new Error(`${name} failed: ${res.body.status.message}`);
    await sleep(20);
  }
}

async function create(platform: TestPlatform, name: string): Promise<number> {
  const started = Date.now();
  const res = await platform.api('POST', '/api/v1/devices', { name });
  if (res.status !== 202) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return connectedAfter(platform, name, started);
}

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return {
    n: values.length,
    min: sorted[0]!,
    median: at(0.5),
    p95: at(0.95),
    max: sorted[sorted.length - 1]!,
  };
}

const platform = await startTestPlatform({
  env: { WASMBED_HEARTBEAT_INTERVAL_MS: '5000', WASMBED_HEARTBEAT_TIMEOUT_MS: '15000' },
});
try {
  // Warm-up: the first run pays for module loading in the worker.
  await create(platform, 'warmup');

  const single: number[] = [];
  for (let i = 0; i < 10; i++) single.push(await create(platform, `single-${i}`));

  const burstStart = Date.now();
  const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => create(platform, `burst-${i}`)));
  const burstWall = Date.now() - burstStart;

  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const result = { machine, single: stats(single), burst50: { ...stats(burst), wallMs: burstWall } };
  console.log(JSON.stringify(result, null, 2));
  console.log(`\n| scenario | n | min | median | p95 | max |\n| --- | --- | --- | --- | --- | --- |`);
  const row = (label: string, s: ReturnType<typeof stats>) =>
    console.log(`| ${label} | ${s.n} | ${s.min} ms | ${s.median} ms | ${s.p95} ms | ${s.max} ms |`);
  row('one device at a time', result.single);
  row('50 devices at once', result.burst50);
  console.log(`50 devices at once: all Connected after ${burstWall} ms (wall clock). Machine: ${machine}`);
} finally {
  await platform.stop();
}
