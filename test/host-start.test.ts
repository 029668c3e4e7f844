/**
 * A device host that cannot start its Temporal worker exits 1 and says why. It used to log the
 * failure as an "uncaught error" and stay up, polling no queue: its control socket still answered,
 * so npm start's supervisor adopted it instead of starting a new one, and the Temporal SDK it had
 * loaded kept SIGTERM from ending it. The real host process (host/main.ts), as docs/runtimes.md
 * starts one on its own, with a fresh data dir.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import { HOST_ENTRY, hostMarkers } from '../host/supervisor.js';

const homes: string[] = [];
afterAll(() => {
  for (const home of homes) fs.rmSync(home, { recursive: true, force: true });
});

/** Runs a host until it exits (or `limitMs` passes, then SIGKILL); its exit code and output. */
function runHost(env: NodeJS.ProcessEnv, limitMs: number): Promise<{ code: number | null; out: string }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-host-start-'));
  homes.push(home);
  const hostId = `start-${path
    .basename(home)
    .slice(-6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x')}`;
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    WASMBED_HOME: home,
    WASMBED_HOST_ID: hostId,
    WASMBED_HOST_METRICS_PORT: '0',
    WASMBED_HOST_TEMPORAL_METRICS_PORT: '0',
    ...env,
  };
  if (env.TEMPORAL_ADDRESS === undefined) delete childEnv.TEMPORAL_ADDRESS;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', HOST_ENTRY, ...hostMarkers(home, hostId)], {
      cwd: REPO_ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

it('exits 1 when TEMPORAL_ADDRESS is not set', async () => {
  const { code, out } = await runHost({ TEMPORAL_ADDRESS: undefined }, 60_000);
  expect(code, out).toBe(1);
  expect(out).toMatch(/device host could not start its worker/);
  expect(out).toMatch(/TEMPORAL_ADDRESS is not set/);
});

it('exits 1 when Temporal does not answer', async () => {
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  const { code, out } = await runHost({ TEMPORAL_ADDRESS: '127.0.0.1:1' }, 60_000);
  expect(code, out).toBe(1);
  expect(out).toMatch(/device host could not start its worker/);
});
