/**
 * Driving provisioning on a real platform (test/support/platform.ts) for the benchmarks that
 * measure it (bench/device-host.ts, bench/many-hosts-provisioning.ts): creating devices through
 * the API, waiting until they are Connected in the store, and the CPU and memory of the
 * platform's processes, by role, read from /proc.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { Device } from '../../common/resources.js';
import { findProcessesMatching } from '../../runtimes/process-table.js';
import type { ResourceStore } from '../../store/resource-store.js';
import type { TestPlatform } from '../../test/support/platform.js';
import { waitFor } from '../../test/support/wait.js';

export const TICKS_PER_S = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The load average as the benchmarks log it with every number (the machine is shared). */
export const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/** Total PSS (KiB) of the processes. */
export function pssKiB(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      total += Number(m?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return total;
}

/** Total CPU ticks (user + system) of the processes. */
export function cpuTicks(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += Number(fields[11]) + Number(fields[12]); // utime + stime
    } catch {
      // gone
    }
  }
  return total;
}

export function provisioningBench(platform: TestPlatform, store: ResourceStore, options: { mcu: string }) {
  const devices = (): Promise<Device[]> => store.list('Device');
  const connected = async (names?: Set<string>) =>
    (await devices()).filter((d) => d.status.phase === 'Connected' && (!names || names.has(d.metadata.name)))
      .length;

  /** POST /api/v1/devices until accepted (429/503 mean "later"). */
  async function create(name: string): Promise<void> {
    for (;;) {
      const res = await platform.api('POST', '/api/v1/devices', { name, mcuType: options.mcu });
      if (res.status === 202) return;
      if (res.status !== 429 && res.status !== 503)
        throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
      await sleep(50);
    }
  }

  /** Resolves with the time (epoch ms) every named device was seen Connected. */
  async function untilConnected(names: string[], timeoutMs = 1_800_000, everyMs = 100): Promise<number> {
    const set = new Set(names);
    // Reading every device ten times a second (3–4 ms of CPU a read at 560 devices) took CPU from
    // the platform it measures: the store counts the Connected ones (in SQL) first, and the
    // devices are read only once there are enough (or at every tenth look).
    let looks = 0;
    await waitFor(
      `${names.length} Connected`,
      async () => {
        const enough = ((await store.countBy('Device', 'phase')).Connected ?? 0) >= names.length;
        if (!enough && ++looks % 10 !== 0) return false;
        return (await connected(set)) === names.length;
      },
      timeoutMs,
      everyMs,
    );
    return Date.now();
  }

  /** Virtual devices run in their own processes only in `process` mode; found by their volume. */
  const deviceProcesses = () =>
    findProcessesMatching((argv) => argv.some((a) => a.startsWith(`--volume=${platform.home}`)));

  /** Every platform process: Temporal, worker, gateways, web, hosts, device processes. */
  function platformPids(): number[] {
    return Object.values(namedPids()).flat();
  }

  /** The platform's processes by role (each started process under its own name). */
  function namedPids(): Record<string, number[]> {
    const named: Record<string, number[]> = { temporal: [platform.temporal.process.pid!] };
    for (const [name, child] of platform.processes) if (child.pid) named[name] = [child.pid];
    const host = platform.hostPid();
    if (host && !Object.values(named).some((pids) => pids.includes(host))) named.host = [host];
    const own = deviceProcesses();
    if (own.length) named['device processes'] = own;
    return named;
  }

  /** CPU ms each role spent while `work` ran, per device it made (and this process's: `bench`). */
  async function cpuProfile(count: number, work: () => Promise<void>): Promise<Record<string, number>> {
    const named = namedPids();
    const before = Object.fromEntries(Object.entries(named).map(([n, pids]) => [n, cpuTicks(pids)]));
    const ownBefore = process.cpuUsage();
    await work();
    const own = process.cpuUsage(ownBefore);
    // Device processes started during the burst count whole (they did not exist before).
    const after = namedPids();
    return {
      ...Object.fromEntries(
        Object.entries(after).map(([n, pids]) => [
          n,
          Math.round(((cpuTicks(pids) - (before[n] ?? 0)) / TICKS_PER_S / count) * 1000),
        ]),
      ),
      // This process: the API client and its polling of the store.
      bench: Math.round((own.user + own.system) / 1000 / count),
    };
  }

  /**
   * `names` created through the API by `clients` concurrent clients, until all are Connected:
   * accepted/s, Connected/s and the CPU per device by role.
   */
  async function apiBurst(names: string[], clients = 32) {
    const t = Date.now();
    let next = 0;
    let acceptedPerS = 0;
    let seconds = 0;
    const cpuMsPerDevice = await cpuProfile(names.length, async () => {
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (next < names.length) await create(names[next++]!);
        }),
      );
      acceptedPerS = Math.round((names.length / ((Date.now() - t) / 1000)) * 10) / 10;
      seconds = ((await untilConnected(names)) - t) / 1000;
    });
    return {
      acceptedPerS,
      seconds,
      devicesPerS: Math.round((names.length / seconds) * 10) / 10,
      cpuMsPerDevice,
    };
  }

  return { devices, connected, create, untilConnected, platformPids, namedPids, cpuProfile, apiBurst };
}
