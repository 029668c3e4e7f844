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
import { findProcesses, isProcessWith, processCommandLine, terminate } from '../runtimes/process-table.js';
import { hostCodeVersion } from './code-version.js';

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

/** How a host's command line says which code it runs (host/code-version.ts). */
const CODE_ARG = '--wasmbed-code=';

/** The code version on a host's command line; undefined for a host started before it was there. */
export function runningCodeVersion(pid: number): string | undefined {
  return processCommandLine(pid)
    ?.find((arg) => arg.startsWith(CODE_ARG))
    ?.slice(CODE_ARG.length);
}

/** Starts a host detached, its output appended to logs/host-<id>.log; returns its pid. */
export function spawnDeviceHost(
  home: string,
  hostId: string,
  env: NodeJS.ProcessEnv,
  code: string = hostCodeVersion(),
): number {
  fs.mkdirSync(paths.logs(home), { recursive: true, mode: 0o700 });
  const out = fs.openSync(hostLogFile(home, hostId), 'a');
  try {
    const args = ['--import', 'tsx', HOST_ENTRY, ...hostMarkers(home, hostId), `${CODE_ARG}${code}`];
    const child = spawn(process.execPath, args, {
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
      /** How long a host being replaced has to stop its devices before it is killed. */
      replaceGraceMs?: number;
      /** Tests only: what starts a host (default spawnDeviceHost). */
      spawnHost?: typeof spawnDeviceHost;
    },
  ) {}

  /** Adopts or starts the host, then keeps checking on it. */
  start(): void {
    this.ensure();
    this.timer = setInterval(() => this.ensure(), this.options.checkMs ?? 1000);
    this.timer.unref();
  }

  /** Stops watching; the host keeps running (one being replaced is not started again). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private ensure(): void {
    const { home, hostId, env, logger } = this.options;
    if (this.replacing || this.stopped) return;
    try {
      // The host seen last time, still there: the usual case, without reading all of /proc
      // (every command line on the machine, each second).
      if (this.pid !== undefined && isProcessWith(this.pid, hostMarkers(home, hostId))) return;
      const running = findDeviceHost(home, hostId);
      if (running.length > 0) {
        const pid = running[0]!;
        const code = runningCodeVersion(pid);
        if (code !== hostCodeVersion()) {
          this.replace(pid, code);
          return;
        }
        if (!this.adopted) logger.info('adopted running device host', { hostId, pid });
        this.adopted = true;
        this.pid = pid;
        return;
      }
      this.pid = (this.options.spawnHost ?? spawnDeviceHost)(home, hostId, env);
      this.adopted = true;
      logger.info('started device host', { hostId, pid: this.pid, log: hostLogFile(home, hostId) });
    } catch (err) {
      logger.warn('could not check on the device host', { hostId, error: String(err) });
    }
  }

  /**
   * A host that runs other code than this worker (one started before an upgrade) is stopped —
   * SIGTERM: it stops its devices, each volume still marked to run — and the next check starts
   * one on this code, which resumes them. Left running, it would serve its queue with the old
   * activities and workflows for as long as it lived.
   */
  private replace(pid: number, code: string | undefined): void {
    const { hostId, logger } = this.options;
    logger.info('replacing a device host that runs other code', {
      hostId,
      pid,
      running: code ?? 'unknown (started before code versions)',
      current: hostCodeVersion(),
    });
    this.replacing = terminate(pid, this.options.replaceGraceMs ?? 30_000)
      .catch((err: unknown) =>
        logger.warn('could not stop the device host', { hostId, pid, error: String(err) }),
      )
      .finally(() => {
        this.replacing = undefined;
        this.pid = undefined;
        this.adopted = false;
        this.ensure();
      });
  }

  private adopted = false;
  /** The host's pid as last found or started (it may have died since). */
  private pid?: number;
  /** While an old host stops: no other start meanwhile. */
  private replacing?: Promise<void>;
  private stopped = false;
}
