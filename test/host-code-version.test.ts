/**
 * A device host that runs other code than its worker — one started before an upgrade (`git
 * pull`, then `npm start` again) — is replaced, not adopted (host/supervisor.ts,
 * host/code-version.ts). The supervisor acts on real processes found in /proc; the host is a
 * stand-in process carrying a host's command line, since what is tested is which process the
 * supervisor keeps, stops or starts (test/device-host.test.ts replaces a real host holding 50
 * devices, which all come back).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../common/logger.js';
import { REPO_ROOT } from '../common/repo-root.js';
import { HOST_SOURCES, hostCodeVersion } from '../host/code-version.js';
import {
  DeviceHostSupervisor,
  HOST_ENTRY,
  findDeviceHost,
  hostMarkers,
  runningCodeVersion,
} from '../host/supervisor.js';
import { isAlive } from '../runtimes/process-table.js';
import { waitFor } from './support/wait.js';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-host-code-'));
const hostId = `code-${process.pid}`;
const lines: { message: string; fields?: Record<string, unknown> }[] = [];
const logger: Logger = {
  info: (message, fields) => lines.push({ message, fields }),
  warn: (message, fields) => lines.push({ message, fields }),
  error: (message, fields) => lines.push({ message, fields }),
  debug: () => {},
};
const supervisors: DeviceHostSupervisor[] = [];
const started: number[] = [];

/** A process with a host's command line that, like a host, takes a moment to stop on SIGTERM. */
function standIn(code: string | undefined): number {
  const child = spawn(
    process.execPath,
    [
      '-e',
      'process.on("SIGTERM", () => setTimeout(() => process.exit(0), 300)); setInterval(() => {}, 1000)',
      '--',
      ...hostMarkers(home, hostId),
      ...(code === undefined ? [] : [`--wasmbed-code=${code}`]),
    ],
    { stdio: 'ignore', detached: true },
  );
  child.unref();
  started.push(child.pid!);
  return child.pid!;
}

function supervise(): DeviceHostSupervisor {
  const supervisor = new DeviceHostSupervisor({
    home,
    hostId,
    env: {},
    logger,
    checkMs: 100,
    spawnHost: (_home, _id, _env, code = hostCodeVersion()) => standIn(code),
  });
  supervisors.push(supervisor);
  supervisor.start();
  return supervisor;
}

afterEach(() => {
  for (const supervisor of supervisors.splice(0)) supervisor.stop();
  for (const pid of started.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  lines.length = 0;
});
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe("the device host's code version", () => {
  it('covers every directory the host loads code from', async () => {
    const { metafile } = await build({
      entryPoints: [HOST_ENTRY],
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      write: false,
      metafile: true,
      logLevel: 'silent',
      absWorkingDir: REPO_ROOT,
    });
    const dirs = new Set(Object.keys(metafile.inputs).map((file) => file.split('/')[0]!));
    for (const dir of dirs) expect(HOST_SOURCES, `host code in ${dir}/`).toContain(dir);
    expect(HOST_SOURCES).toContain('package-lock.json');
  });

  it('replaces a host that runs other code: stopped with SIGTERM, a new one on this code', async () => {
    const old = standIn('0123456789abcdef');
    supervise();
    const current = await waitFor('a host on this code', () => {
      const [pid] = findDeviceHost(home, hostId);
      return pid !== undefined && pid !== old ? pid : undefined;
    });
    expect(isAlive(old)).toBe(false);
    expect(runningCodeVersion(current)).toBe(hostCodeVersion());
    expect(lines).toContainEqual({
      message: 'replacing a device host that runs other code',
      fields: expect.objectContaining({ pid: old, running: '0123456789abcdef', current: hostCodeVersion() }),
    });
    // A restarted worker on the same code adopts it.
    lines.length = 0;
    supervise();
    await waitFor('adopted', () => lines.some((l) => l.message === 'adopted running device host'));
    expect(findDeviceHost(home, hostId)).toEqual([current]);
    expect(lines.map((l) => l.message)).not.toContain('replacing a device host that runs other code');
  });

  it('replaces a host from before code versions (none on its command line)', async () => {
    const old = standIn(undefined);
    supervise();
    await waitFor('the old host gone and a new one', () => {
      const [pid] = findDeviceHost(home, hostId);
      return !isAlive(old) && pid !== undefined && runningCodeVersion(pid) === hostCodeVersion();
    });
    expect(lines.find((l) => l.message.startsWith('replacing'))?.fields?.running).toMatch(/^unknown/);
  });
});
