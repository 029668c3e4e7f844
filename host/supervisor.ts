/**
 * Keeps this machine's device host running. The orchestrator worker starts it detached (it
 * outlives the worker, like the devices it holds) or adopts the one that runs, found by its
 * command line; it checks every second and starts a new one when the host died (kill -9, a
 * crash), which resumes the devices it owned. Two workers racing to start one are harmless:
 * the host's control socket lets only one run (host/control.ts).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { paths } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import { REPO_ROOT } from '../common/repo-root.js';
import { findProcesses, isProcessWith } from '../runtimes/process-table.js';

export const HOST_ENTRY = path.join(REPO_ROOT, 'host', 'main.ts');

/** The arguments a host runs with: how a worker (or a test) finds it in /proc. */
export const hostMarkers = (home: string, hostId: string): string[] => [
  `--wasmbed-host=${hostId}`,
  `--home=${path.resolve(home)}`,
];

export const findDeviceHost = (home: string, hostId: string): number[] =>
  findProcesses(hostMarkers(home, hostId));

export const hostLogFile = (home: string, hostId: string): string =>
  path.join(paths.logs(home), `host-${hostId}.log`);

/** Starts a host detached, its output appended to logs/host-<id>.log; returns its pid. */
export function spawnDeviceHost(home: string, hostId: string, env: NodeJS.ProcessEnv): number {
  fs.mkdirSync(paths.logs(home), { recursive: true, mode: 0o700 });
  const out = fs.openSync(hostLogFile(home, hostId), 'a');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', HOST_ENTRY, ...hostMarkers(home, hostId)], {
      cwd: REPO_ROOT,
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...env, WASMBED_HOME: path.resolve(home), WASMBED_HOST_ID: hostId },
    });
    child.unref();
    return child.pid ?? -1;
  } finally {
    fs.closeSync(out);
  }
}

export class DeviceHostSupervisor {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly options: {
      home: string;
      hostId: string;
      env: NodeJS.ProcessEnv;
      logger: Logger;
      checkMs?: number;
    },
  ) {}

  /** Adopts or starts the host, then keeps checking on it. */
  start(): void {
    this.ensure();
    this.timer = setInterval(() => this.ensure(), this.options.checkMs ?? 1000);
    this.timer.unref();
  }

  /** Stops watching; the host keeps running. */
  stop(): void {
    clearInterval(this.timer);
  }

  private ensure(): void {
    const { home, hostId, env, logger } = this.options;
    try {
      // The host seen last time, still there: the usual case, without reading all of /proc
      // (every command line on the machine, each second).
      if (this.pid !== undefined && isProcessWith(this.pid, hostMarkers(home, hostId))) return;
      const running = findDeviceHost(home, hostId);
      if (running.length > 0) {
        if (!this.adopted) logger.info('adopted running device host', { hostId, pid: running[0] });
        this.adopted = true;
        this.pid = running[0];
        return;
      }
      this.pid = spawnDeviceHost(home, hostId, env);
      this.adopted = true;
      logger.info('started device host', { hostId, pid: this.pid, log: hostLogFile(home, hostId) });
    } catch (err) {
      logger.warn('could not check on the device host', { hostId, error: String(err) });
    }
  }

  private adopted = false;
  /** The host's pid as last found or started (it may have died since). */
  private pid?: number;
}
