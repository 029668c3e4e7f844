/**
 * Upgrading from the per-process mode (each virtual device a detached Node process): the device
 * host stops the processes that mode left for its own volumes before it resumes their devices in
 * itself (runtimes/virtual.ts, stopLeftoverDeviceProcesses), and leaves every other process alone
 * — another platform's devices, or a process that only names a device. Real processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, paths } from '../common/config.js';
import { isAlive } from '../runtimes/process-table.js';
import { stopLeftoverDeviceProcesses } from '../runtimes/virtual.js';
import { waitFor } from './support/wait.js';

const homes = [0, 1].map(() => fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-leftover-')));
const children: ChildProcess[] = [];

/** A process with a device process's command line (it only waits). */
function fakeDevice(...args: string[]): number {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '--', ...args], {
    stdio: 'ignore',
  });
  children.push(child);
  return child.pid!;
}

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const home of homes) fs.rmSync(home, { recursive: true, force: true });
});

describe('device processes left by the per-process mode', () => {
  it("are stopped for this host's volumes, and nothing else is", async () => {
    const [mine, other] = homes as [string, string];
    const leftover = fakeDevice('--device=d-1', `--volume=${paths.volume(mine, 'd-1')}`);
    const othersDevice = fakeDevice('--device=d-1', `--volume=${paths.volume(other, 'd-1')}`);
    const notADevice = fakeDevice(`--volume=${paths.volume(mine, 'd-2')}`);
    await waitFor('the processes to run', () => [leftover, othersDevice, notADevice].every(isAlive), 10_000);

    expect(await stopLeftoverDeviceProcesses(mine)).toBe(1);
    await waitFor('the leftover to be gone', () => !isAlive(leftover), 10_000);
    expect(isAlive(othersDevice)).toBe(true);
    expect(isAlive(notADevice)).toBe(true);
    // Nothing left: a second start finds none.
    expect(await stopLeftoverDeviceProcesses(mine)).toBe(0);
  });
});

describe('WASMBED_VIRTUAL_DEVICES', () => {
  it('refuses the per-process mode by name, with what to do instead; thread (the only mode) passes', () => {
    expect(() => loadConfig({ WASMBED_VIRTUAL_DEVICES: 'process' })).toThrow(
      /WASMBED_VIRTUAL_DEVICES="process" is no longer supported: .*docker runtime/,
    );
    expect(loadConfig({ WASMBED_VIRTUAL_DEVICES: 'thread' }).host.id).toBeTruthy();
    expect(loadConfig({}).host.id).toBeTruthy();
  });
});
