/**
 * A timeline of the fleet while a benchmark step runs (WASMBED_BENCH_TRACE=1): every
 * `everyMs` it reads the devices from the store and logs a line whenever the counts change —
 * how many are Connected, Unreachable, have the app in each state, and (after a kill) carry
 * a certificate other than the one they had before (a recovery re-issued it). This is how the
 * kill -9 and deploy times are profiled: which phase the seconds go to.
 */
import type { Device } from '../../common/resources.js';

export interface FleetTimeline {
  stop(): Promise<string[]>;
}

export function fleetTimeline(options: {
  devices: () => Promise<Device[]>;
  app: string;
  since: number;
  hostUp?: () => boolean;
  everyMs?: number;
  log: (line: string) => void;
}): FleetTimeline {
  const { devices, app, since, hostUp, log } = options;
  const lines: string[] = [];
  let serials: Map<string, string> | undefined;
  let last = '';
  let stopped = false;
  const sample = async () => {
    const all = await devices();
    serials ??= new Map(all.map((d) => [d.metadata.name, d.status.identity?.certSerial ?? '']));
    const count: Record<string, number> = {};
    const bump = (key: string) => (count[key] = (count[key] ?? 0) + 1);
    for (const d of all) {
      bump(`phase:${d.status.phase}`);
      const a = d.status.apps[app] as { state?: string; since?: string } | undefined;
      bump(`app:${a?.state ?? 'none'}${a && Date.parse(a.since ?? '') > since ? '+' : ''}`);
      if ((d.status.identity?.certSerial ?? '') !== serials.get(d.metadata.name)) bump('newCert');
    }
    if (hostUp) count.hostUp = hostUp() ? 1 : 0;
    const key = JSON.stringify(Object.entries(count).sort());
    if (key === last) return;
    last = key;
    const line = `+${Date.now() - since} ms ${Object.entries(count)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`;
    lines.push(line);
    log(line);
  };
  const running = (async () => {
    while (!stopped) {
      await sample().catch((err: unknown) => log(`timeline sample failed: ${String(err)}`));
      await new Promise((r) => setTimeout(r, options.everyMs ?? 250));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await running;
      return lines;
    },
  };
}
