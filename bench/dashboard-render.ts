/**
 * Dashboard benchmark: (1) server-side render time of the devices page with all 1,000 devices
 * on one page (?limit=1000);
 * (2) server-sent-event fan-out: 20 open devices pages while 100 devices change phase, written
 * through a second store connection as the gateway and worker processes would. Measures how
 * long after each write every page has the new phase, and what the server sent.
 * The web app runs in this process with a real SQLite store; Temporal is not needed for these
 * views (no client is passed), so none is started. Run: npx tsx bench/dashboard-render.ts
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { DevicePhase } from '../common/resources.js';
import { seededDashboard } from './support/seeded-dashboard.js';

const DEVICES = 1000;
const PAGES = 20;
const CHANGES = 100;
/** The whole table on one page (the devices page shows 50 rows by default; bench/devices-page.ts compares). */
const WHOLE_TABLE = { limit: '1000' };

function stats(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  const r = (n: number) => Math.round(n * 10) / 10;
  return { n: s.length, min: r(s[0]!), median: r(at(0.5)), p95: r(at(0.95)), max: r(s[s.length - 1]!) };
}

const { home, writer, app } = await seededDashboard({
  name: 'dashboard',
  devices: DEVICES,
  liveIntervalMs: 100,
});

// ---- 1. render time ---------------------------------------------------------------------
for (let i = 0; i < 5; i++) await app.renderDevicesPage(WHOLE_TABLE); // warm up
const renders: number[] = [];
let bytes = 0;
for (let i = 0; i < 50; i++) {
  const t = performance.now();
  bytes = (await app.renderDevicesPage(WHOLE_TABLE)).length;
  renders.push(performance.now() - t);
}
const server = http.createServer(app);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const httpTimes: number[] = [];
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  const res = await fetch(`${base}/devices?limit=1000`);
  await res.text();
  httpTimes.push(performance.now() - t);
}
const render = stats(renders);
console.log(
  `devices page, ${DEVICES} devices: render ${JSON.stringify(render)} ms, ${Math.round(bytes / 1024)} KiB`,
);
console.log(`GET /devices over HTTP: ${JSON.stringify(stats(httpTimes))} ms`);

// ---- 2. SSE fan-out -----------------------------------------------------------------------
interface Page {
  received: number;
  bytes: number;
  seen: Map<string, number>;
}
const pages: Page[] = [];
const controllers: AbortController[] = [];
const targets = Array.from({ length: CHANGES }, (_, i) => `dev-${String(i * 7).padStart(4, '0')}`);
const target = new Set(targets);
const NEW_PHASE: DevicePhase = 'Disconnected';
let ready = 0;
for (let p = 0; p < PAGES; p++) {
  const page: Page = { received: 0, bytes: 0, seen: new Map() };
  pages.push(page);
  const controller = new AbortController();
  controllers.push(controller);
  void (async () => {
    const res = await fetch(`${base}/ui/stream/devices?limit=1000`, { signal: controller.signal });
    const decoder = new TextDecoder();
    let buffer = '';
    let first = true;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const at = performance.now();
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!event.includes('event: swap') && !event.includes('event: rows')) continue;
          page.received++;
          page.bytes += event.length;
          if (first) {
            first = false;
            ready++;
            continue;
          }
          for (const m of event.matchAll(/data-device=\\"(dev-\d+)\\" data-phase=\\"(\w+)\\"/g)) {
            if (m[2] === NEW_PHASE && target.has(m[1]!) && !page.seen.has(m[1]!)) page.seen.set(m[1]!, at);
          }
        }
      }
    } catch {
      // aborted at the end
    }
  })();
}
while (ready < PAGES) await new Promise((r) => setTimeout(r, 20));
const before = {
  renders: app.live.stats.renders,
  events: app.live.stats.eventsSent,
  bytes: app.live.stats.bytesSent,
};
const cpuBefore = process.cpuUsage();
const written = new Map<string, number>();
const started = performance.now();
for (const name of targets) {
  await writer.updateStatus('Device', name, (s) => ({ ...s, phase: NEW_PHASE }));
  written.set(name, performance.now());
  await new Promise((r) => setTimeout(r, 10));
}
const deadline = Date.now() + 15_000;
while (pages.some((p) => p.seen.size < CHANGES) && Date.now() < deadline)
  await new Promise((r) => setTimeout(r, 20));
const elapsed = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
const latencies: number[] = [];
for (const page of pages) for (const [name, at] of page.seen) latencies.push(at - written.get(name)!);
const complete = pages.filter((p) => p.seen.size === CHANGES).length;
const fan = {
  pages: PAGES,
  changes: CHANGES,
  pagesThatSawEveryChange: complete,
  latencyMs: stats(latencies),
  rendersDuringRun: app.live.stats.renders - before.renders,
  eventsSent: app.live.stats.eventsSent - before.events,
  kibSent: Math.round((app.live.stats.bytesSent - before.bytes) / 1024),
  wallMs: Math.round(elapsed),
  processCpuMs: Math.round((cpu.user + cpu.system) / 1000),
};
console.log(`SSE fan-out: ${JSON.stringify(fan)}`);
console.log(
  JSON.stringify({
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model}`,
    node: process.version,
    render,
  }),
);

for (const c of controllers) c.abort();
app.shutdown();
server.closeAllConnections();
server.close();
fs.rmSync(home, { recursive: true, force: true });
process.exit(0);
