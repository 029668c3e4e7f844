/** Starting the gateway process and fleet processes for the gateway benchmarks. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FleetOptions } from '../../device/fleet.js';
import type { GatewayProcessConfig } from './gateway-process.js';
import { forkScript, killAllChildren, type BenchChild } from './ipc.js';
import type { Summary } from './stats.js';

export interface BenchGateway {
  child: BenchChild;
  port: number;
  endpoint: string;
  home: string;
  logFile: string;
  stats(gc?: boolean): Promise<GatewayStats>;
}

export interface GatewayStats {
  at: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  cpu: NodeJS.CpuUsage;
  sessions: number;
  upEvents: number;
  downEvents: number;
  tlsResumed: number;
  tlsFull: number;
  handshakesInFlight: number;
  openFds: number;
  metrics: Record<string, any>;
  loopDelayMs: { p50: number; p99: number; max: number; mean: number };
  /** The heartbeat path's store writes (only with GatewayProcessConfig.heartbeats). */
  heartbeatWrites: {
    heartbeats: number;
    issued: number;
    done: number;
    failed: number;
    pending: number;
    pendingMax: number;
    errors: Record<string, number>;
    latencyMs: Summary;
  };
}

/** A scratch directory for one benchmark run: CA, database, logs. Removed by `cleanup`. */
export function scratchDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `wasmbed-${name}-`));
}

export async function startGatewayProcess(
  dir: string,
  /** `home` defaults to `<dir>/home`; pass one to share another process's CA and database. */
  config: GatewayProcessConfig,
): Promise<BenchGateway> {
  const home = config.home ?? path.join(dir, 'home');
  const logFile = path.join(dir, 'gateway.log');
  const child = forkScript(
    'gateway',
    'bench/support/gateway-process.ts',
    { ...config, home },
    {
      logFile,
      execArgv: ['--expose-gc'],
    },
  );
  const ready = await child.waitEvent('ready', 60_000);
  return {
    child,
    port: ready.port,
    endpoint: `127.0.0.1:${ready.port}`,
    home,
    logFile,
    stats: (gc = false) => child.call('stats', { gc }, 30_000),
  };
}

export async function startFleetProcess(
  dir: string,
  name: string,
  options: FleetOptions,
): Promise<BenchChild> {
  const child = forkScript(name, 'bench/support/fleet-process.ts', options, {
    logFile: path.join(dir, `${name}.log`),
  });
  await child.waitEvent('ready', 60_000);
  return child;
}

/** CPU seconds (user + system) between two cpuUsage samples, as % of one core over `ms`. */
export function cpuPercent(before: NodeJS.CpuUsage, after: NodeJS.CpuUsage, ms: number): number {
  const micros = after.user - before.user + (after.system - before.system);
  return Math.round((micros / 1000 / ms) * 1000) / 10;
}

/** Lines of the gateway log at WARN/ERROR, grouped by message (for surprises worth reporting). */
export function gatewayWarnings(logFile: string): Record<string, number> {
  const counts: Record<string, number> = {};
  let text: string;
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch {
    return counts;
  }
  for (const line of text.split('\n')) {
    const match = /^\S+ (WARN|ERROR) \[[^\]]*\] ([^{]*)/.exec(line);
    if (match) {
      const key = `${match[1]} ${match[2]!.trim()}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
  }
  return counts;
}

/** Stops children politely (bounded), then kills whatever is left, then removes the scratch dir. */
export async function cleanup(
  dir: string,
  gateway: BenchGateway | undefined,
  fleets: BenchChild[],
  keepLogs = false,
) {
  const closing = fleets.map((f) => f.call('close', { timeoutMs: 10_000 }, 15_000).catch(() => undefined));
  await Promise.all(closing);
  for (const fleet of fleets) if (fleet.proc.connected) fleet.proc.disconnect(); // it exits on disconnect
  if (gateway) await gateway.child.call('stop', {}, 15_000).catch(() => undefined);
  await Promise.race([
    Promise.all([...fleets, ...(gateway ? [gateway.child] : [])].map((c) => c.exited)),
    new Promise((r) => setTimeout(r, 3000)),
  ]);
  killAllChildren();
  if (!keepLogs) fs.rmSync(dir, { recursive: true, force: true });
}
