/**
 * Enrollment latency on a real platform (Temporal dev server, orchestrator, gateway, web) with
 * real `wasmbed-device` board processes:
 *  - pre-registered: board process started → Connected (includes Node start-up, key generation,
 *    CSR, the enrollDevice workflow, reconnection with the new certificate), 10 boards one at a
 *    time, then 20 at once;
 *  - operator-approved: approve (API) → Connected, 10 boards.
 * Run with `npx tsx bench/enrollment-latency.ts`; numbers go to BENCHMARKS.md. With
 * `WASMBED_BENCH_BOARD=firmware` the boards are the C firmware's POSIX build instead
 * (firmware/build/wasmbed-device, same flags; build it with scripts/firmware-test.sh --build-only).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../common/repo-root.js';
import { startTestPlatform, type TestPlatform } from '../test/support/platform.js';
import { machine, summarize } from './support/stats.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const platform: TestPlatform = await startTestPlatform({
  env: { WASMBED_HEARTBEAT_INTERVAL_MS: '5000', WASMBED_HEARTBEAT_TIMEOUT_MS: '15000' },
});
const boardsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-bench-boards-'));
const children: ChildProcess[] = [];
const caFile = path.join(boardsDir, 'ca.pem');
fs.writeFileSync(caFile, await (await fetch(`${platform.webUrl}/api/v1/pki/ca.pem`)).text());

async function token(name: string): Promise<string> {
  const res = await platform.api('POST', '/api/v1/enrollment-tokens', { name, ttl: '1h' });
  if (res.status !== 201) throw new Error(`token: ${JSON.stringify(res.body)}`);
  return res.body.token;
}

const FIRMWARE_BOARD = path.join(
  process.env.FIRMWARE_BUILD_DIR ?? path.join(REPO_ROOT, 'firmware', 'build'),
  'wasmbed-device',
);
const firmwareBoards = process.env.WASMBED_BENCH_BOARD === 'firmware';
if (firmwareBoards && !fs.existsSync(FIRMWARE_BOARD)) {
  throw new Error(`${FIRMWARE_BOARD} is missing: run scripts/firmware-test.sh --build-only`);
}

function startBoard(name: string, claimToken: string): void {
  const flags = [
    ...['--gateway', `127.0.0.1:${platform.gatewayPort}`, '--ca', caFile, '--name', name],
    ...['--claim-token', claimToken, '--state-dir', path.join(boardsDir, name)],
  ];
  const child = firmwareBoards
    ? spawn(FIRMWARE_BOARD, flags, {
        stdio: 'ignore',
        env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' },
      })
    : spawn(process.execPath, [path.join(REPO_ROOT, 'device', 'wasmbed-device.mjs'), ...flags], {
        stdio: 'ignore',
      });
  children.push(child);
}

async function until(name: string, test: (body: any) => boolean): Promise<void> {
  for (;;) {
    const res = await platform.api('GET', `/api/v1/devices/${name}`);
    if (res.status === 200 && test(res.body)) return;
    await sleep(20);
  }
}

async function preRegistered(name: string): Promise<number> {
  await platform.api('POST', '/api/v1/devices', { name, enrollment: 'preauthorized' });
  const claimToken = await token(name);
  const started = Date.now();
  startBoard(name, claimToken);
  await until(name, (d) => d.status.phase === 'Connected');
  return Date.now() - started;
}

try {
  await preRegistered('warmup'); // the first run pays for module loading in the worker
  const single: number[] = [];
  for (let i = 0; i < 10; i++) single.push(await preRegistered(`pre-${i}`));
  const burstStart = Date.now();
  const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => preRegistered(`burst-${i}`)));
  const burstWall = Date.now() - burstStart;

  const approved: number[] = [];
  for (let i = 0; i < 10; i++) {
    const name = `ask-${i}`;
    startBoard(name, await token(name));
    await until(name, (d) => d.status.enrollment?.state === 'AwaitingApproval');
    const started = Date.now();
    await platform.api('POST', `/api/v1/enrollments/${name}/approve`);
    await until(name, (d) => d.status.phase === 'Connected');
    approved.push(Date.now() - started);
  }

  const row = (label: string, values: number[]) => {
    const s = summarize(values);
    console.log(`| ${label} | ${s.n} | ${s.min} ms | ${s.p50} ms | ${s.p90} ms | ${s.max} ms |`);
  };
  console.log(`boards: ${firmwareBoards ? `C firmware (${FIRMWARE_BOARD})` : 'TypeScript (tsx)'}`);
  console.log(`| scenario | n | min | median | p90 | max |\n| --- | --- | --- | --- | --- | --- |`);
  row('pre-registered, board start → Connected, one at a time', single);
  row('pre-registered, 20 boards started at once', burst);
  row('operator approves → Connected', approved);
  console.log(`20 boards at once: all Connected after ${burstWall} ms (wall clock).`);
  console.log(JSON.stringify(machine()));
} finally {
  for (const child of children) child.kill('SIGKILL');
  await platform.stop();
  fs.rmSync(boardsDir, { recursive: true, force: true });
}
