/**
 * `npm start` (scripts/start.ts) as a user runs it, on free ports and a home of its own: a
 * process that dies is started again — the Temporal dev server too, on the same database, so
 * the workflows that were running go on (a device's lifecycle) and new ones start; Ctrl-C stops
 * every process to the end of its shutdown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import { hostLogFile, hostMarkers } from '../host/supervisor.js';
import { findProcesses, findProcessesMatching, terminate } from '../runtimes/process-table.js';
import { lifecycleWorkflowId, provisionWorkflowId } from '../workflows/contracts/index.js';
import { callApi } from './support/api-call.js';
import { startEnv } from './support/start-env.js';
import { waitFor } from './support/wait.js';

let home: string;
let env: NodeJS.ProcessEnv;
let start: ChildProcess;
let output = '';
let webUrl: string;
let devPort: number;
const hostId = `npm-start-${process.pid}`;

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-npm-start-'));
  ({ env, webUrl, devPort } = await startEnv(home, hostId));
  start = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'scripts', 'start.ts')], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  start.stdout!.on('data', (d) => (output += d));
  start.stderr!.on('data', (d) => (output += d));
  await waitFor('the dashboard', async () => (await fetch(`${webUrl}/healthz`)).ok, 120_000);
}, 180_000);

afterAll(async () => {
  if (start && start.exitCode === null) {
    const exited = new Promise((resolve) => start.once('exit', resolve));
    start.kill('SIGINT');
    await exited;
  }
  // The device host outlives the rest, as it does for a user: stop it here.
  const strays = findProcessesMatching((argv) => argv.includes(`--home=${path.resolve(home)}`));
  await Promise.all(strays.map((pid) => terminate(pid, 1000)));
  fs.rmSync(home, { recursive: true, force: true });
}, 60_000);

const api = (method: string, route: string, body?: unknown) =>
  callApi(webUrl, method, `/api/v1${route}`, body);

const connected = (name: string) =>
  waitFor(
    `${name} Connected`,
    async () => (await api('GET', `/devices/${name}`)).body?.status?.phase === 'Connected',
    120_000,
  );

const devServers = () => findProcesses(['start-dev', '--port', String(devPort)]);

it('starts the dev server again after kill -9: running workflows go on, new ones start', async () => {
  expect((await api('POST', '/devices', { name: 'before' })).status).toBe(202);
  await connected('before');
  // Connected is written just before the run starts the device's lifecycle and ends: the kill
  // comes once the run has ended, so the lifecycle is one that was running before it.
  const before = await Connection.connect({ address: `127.0.0.1:${devPort}` });
  try {
    await new Client({ connection: before }).workflow.getHandle(provisionWorkflowId('before')).result();
  } finally {
    await before.close();
  }
  const [first] = devServers();
  expect(first).toBeDefined();

  process.kill(first!, 'SIGKILL');
  const [second] = await waitFor(
    'a new dev server',
    () => {
      const found = devServers();
      return found.length === 1 && found[0] !== first ? found : undefined;
    },
    60_000,
  );
  expect(second).not.toBe(first);
  expect(output).toMatch(/Temporal dev server exited; restarting in 2 s/);

  // Its state was in the file: the device's lifecycle from before is still running.
  const connection = await waitFor('Temporal back', async () =>
    Connection.connect({ address: `127.0.0.1:${devPort}`, connectTimeout: 1000 }),
  );
  try {
    const client = new Client({ connection });
    const lifecycle = await client.workflow.getHandle(lifecycleWorkflowId('before')).describe();
    expect(lifecycle.status.name).toBe('RUNNING');
  } finally {
    await connection.close();
  }
  // And the platform works on it: a new device is provisioned end to end.
  expect((await api('POST', '/devices', { name: 'after' })).status).toBe(202);
  await connected('after');
}, 300_000);

it('Ctrl-C stops every process to the end of its shutdown; the device host too, on SIGTERM', async () => {
  const exited = new Promise((resolve) => start.once('exit', resolve));
  start.kill('SIGINT');
  await exited;
  // Each process's last line says its shutdown ran to its end (common/shutdown.ts). The SDK stops
  // a worker on the same signal by itself; stopping it again threw and cut the rest short: the
  // gateway's pending device events unwritten, no store closed.
  const stopped = (text: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { component?: string; msg?: string })
      .filter((line) => line.msg === 'stopped')
      .map((line) => line.component);
  expect(stopped(output).sort()).toEqual(['gateway', 'orchestrator', 'web']);
  expect(output).not.toMatch(/shutdown failed|error during/);

  // The host outlives npm start by design; a SIGTERM stops it, and its devices, cleanly.
  const [host] = findProcesses(hostMarkers(home, hostId));
  expect(host).toBeDefined();
  await terminate(host!, 20_000);
  const hostLog = fs.readFileSync(hostLogFile(home, hostId), 'utf8');
  expect(stopped(hostLog)).toEqual(['host']);
  expect(hostLog).not.toMatch(/shutdown failed|error during/);
}, 60_000);
