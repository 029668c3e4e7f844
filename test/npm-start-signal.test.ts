/**
 * `npm start` stopped the way a service manager or `docker stop` stops it — SIGTERM to npm, not
 * Ctrl-C to the whole terminal group — stops the platform. npm ran its script through
 * `sh -c "setup && tsx scripts/start.ts"`: the signal ended npm and sh, and scripts/start.ts,
 * orphaned, went on running the web, gateway, worker and dev server (and started the dev server
 * again when it was killed). Real npm, real processes; the device host outlives npm start by
 * design and is stopped here at the end.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import { findProcessesMatching, terminate } from '../runtimes/process-table.js';
import { startEnv } from './support/start-env.js';
import { waitFor } from './support/wait.js';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-npm-sigterm-'));

/** The platform's processes but its device host: what names the home in its environment. */
function platformProcesses(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
        return environ.includes(`WASMBED_HOME=${home}`) && !argv.includes('host/main.ts') && state !== 'Z';
      } catch {
        return false;
      }
    });
}

afterAll(async () => {
  for (const pid of platformProcesses()) process.kill(pid, 'SIGKILL'); // (only if the test failed)
  const host = findProcessesMatching((argv) => argv.includes(`--home=${home}`));
  await Promise.all(host.map((pid) => terminate(pid, 10_000)));
  fs.rmSync(home, { recursive: true, force: true });
}, 60_000);

it('SIGTERM to npm stops every process of npm start', { timeout: 240_000 }, async () => {
  const { env, webUrl } = await startEnv(home, `npm-sigterm-${process.pid}`);
  const npm = spawn('npm', ['start'], { cwd: REPO_ROOT, env, stdio: 'ignore' });
  const exited = new Promise((resolve) => npm.once('exit', resolve));
  await waitFor(
    'the dashboard',
    async () => (await fetch(`${webUrl}/healthz`).catch(() => undefined))?.ok,
    180_000,
  );
  expect(platformProcesses().length).toBeGreaterThanOrEqual(4); // web, gateway, worker, dev server

  npm.kill('SIGTERM');
  await exited;
  await waitFor('every process of npm start gone', () => platformProcesses().length === 0, 60_000);
  expect(await fetch(`${webUrl}/healthz`).catch(() => 'unreachable')).toBe('unreachable');
});
