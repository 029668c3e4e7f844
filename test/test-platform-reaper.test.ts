/**
 * A test run killed without stopping its platform (vitest killed with -9) leaves nothing running:
 * test/support/reaper.mjs kills the worker, gateway, web, Temporal dev server, device host and
 * its devices, and removes the platform's home. Before it, they ran on after the run — the device
 * host and the devices detached on purpose, the worker restarting the host — until someone found
 * them by hand. Real processes: a child process starts a real test platform with a device and
 * is killed with SIGKILL.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import { findProcessesMatching, isProcessWith } from '../runtimes/process-table.js';
import { waitFor } from './support/wait.js';

const SCRIPT = `
  import { startTestPlatform } from './test/support/platform.ts';
  import { waitFor } from './test/support/wait.ts';
  const platform = await startTestPlatform();
  await platform.api('POST', '/api/v1/devices', { name: 'orphan-1' });
  await waitFor('orphan-1 Connected', async () =>
    (await platform.api('GET', '/api/v1/devices/orphan-1')).body.status?.phase === 'Connected', 60_000);
  console.log(JSON.stringify({ home: platform.home, temporalPid: platform.temporal.process.pid, hostPid: platform.hostPid() }));
  await new Promise(() => {}); // until killed
`;

let home: string | undefined;

/** Processes that name the home in their command line or have it in their environment. */
function ofHome(dir: string): number[] {
  return findProcessesMatching((argv) => argv.some((arg) => arg.includes(dir))).concat(
    fs
      .readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`WASMBED_HOME=${dir}`);
        } catch {
          return false;
        }
      })
      .map(Number),
  );
}

/** Running, not a zombie (nothing here may reap a detached process's exit status). */
const alive = (pid: number) => isProcessWith(pid, []);

afterAll(() => {
  // (Only if the reaper failed: then clean up what it left, so this test leaks nothing itself.)
  if (!home) return;
  for (const pid of ofHome(home)) process.kill(pid, 'SIGKILL');
  fs.rmSync(home, { recursive: true, force: true });
});

it(
  'a test run killed with -9 leaves no platform process and no home behind',
  { timeout: 180_000 },
  async () => {
    const run = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => run.once('exit', resolve));
    const started = await new Promise<{ home: string; temporalPid: number; hostPid: number }>(
      (resolve, reject) => {
        readline.createInterface({ input: run.stdout! }).on('line', (line) => {
          if (line.startsWith('{"home"')) resolve(JSON.parse(line));
        });
        run.once('exit', (code) =>
          reject(new Error(`the platform run exited with ${code} before it was up`)),
        );
      },
    );
    home = started.home;
    // Up: the worker, gateway, web, the detached device host with its device, the dev server.
    expect(ofHome(home).length).toBeGreaterThanOrEqual(4);
    expect(alive(started.hostPid)).toBe(true);
    expect(alive(started.temporalPid)).toBe(true);

    run.kill('SIGKILL');
    await exited;
    await waitFor(
      'the reaper to clear the killed run',
      () => ofHome(home!).length === 0 && !fs.existsSync(home!),
      30_000,
    );
    expect(alive(started.hostPid)).toBe(false);
    expect(alive(started.temporalPid)).toBe(false);
  },
);
