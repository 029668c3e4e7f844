/**
 * A Fleet (device/fleet.ts) in its own process, driven by a gateway benchmark over IPC.
 * Commands: prepare (issue certificates), connect, close, stats.
 */
import fs from 'node:fs';
import { Fleet, type FleetOptions } from '../../device/fleet.js';
import { serveIpc } from './ipc.js';
import { errorMessage } from '../../common/errors.js';

const options = JSON.parse(process.argv[2] ?? '{}') as FleetOptions;
const fleet = new Fleet(options);
let round = 0;
/** Errors that escaped to the process (a bug somewhere below Fleet): counted and reported, not fatal. */
const uncaught: Record<string, number> = {};
process.on('uncaughtException', (err) => {
  const key = errorMessage(err);
  if (!uncaught[key]) process.stderr.write(`uncaught: ${err instanceof Error ? err.stack : key}\n`);
  uncaught[key] = (uncaught[key] ?? 0) + 1;
});

function liveLinks(): number {
  let live = 0;
  for (const device of fleet.devices) if (device.link && !device.link.socket.destroyed) live++;
  return live;
}

function openFds(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

serveIpc({
  async prepare() {
    const started = performance.now();
    await fleet.prepare();
    return { devices: fleet.devices.length, ms: performance.now() - started };
  },

  async connect() {
    round++;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const connected = await fleet.connect();
    const ms = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    let reused = 0;
    const protocols: Record<string, number> = {};
    for (const device of fleet.devices) {
      const socket = device.link?.socket;
      if (!socket) continue;
      if (socket.isSessionReused()) reused++;
      const protocol = socket.getProtocol() ?? 'none';
      protocols[protocol] = (protocols[protocol] ?? 0) + 1;
    }
    return {
      round,
      connected,
      attempted: fleet.devices.length,
      ms,
      reused,
      protocols,
      cpuMs: (cpu.user + cpu.system) / 1000,
      uncaught,
    };
  },

  async close(args: { timeoutMs?: number }) {
    const started = performance.now();
    const closed = fleet.devices.map((d) => d.link?.closed ?? Promise.resolve(false));
    fleet.close();
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, args.timeoutMs ?? 15_000))]);
    return { ms: performance.now() - started, stillOpen: liveLinks() };
  },

  stats() {
    const memory = process.memoryUsage();
    return {
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      cpu: process.cpuUsage(),
      liveLinks: liveLinks(),
      openFds: openFds(),
      uncaught,
    };
  },
});
process.send!({ event: 'ready', pid: process.pid });
