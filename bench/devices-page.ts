/**
 * The devices page at 1,000 devices, whole table against one page, side by side in one run:
 * (1) server-side render time and bytes of the page (`?limit=1000` renders every device as the
 * page did before paging; the default shows 50); (2) one live update: a page's stream open,
 * one device changes phase (written through a second store connection, as the gateway would),
 * the time until the stream carries the new row, the bytes it sent, and the time the server
 * spent rendering the view for it; (3) the topology SVG, every device drawn as before or compact. The web app runs in this process on
 * a real SQLite store holding 1,000 Device resources inserted directly (no Temporal: these
 * views do not use it). Run: npx tsx bench/devices-page.ts [--rounds=20]
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { DevicePhase } from '../common/resources.js';
import { topologySvg } from '../web/pages/topology.js';
import { seededDashboard } from './support/seeded-dashboard.js';
import { sseEvents } from '../test/support/sse-events.js';

const DEVICES = 1000;
const ROUNDS = Number(/--rounds=(\d+)/.exec(process.argv.join(' '))?.[1] ?? 20);

function stats(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  const r = (n: number) => Math.round(n * 100) / 100;
  return { n: s.length, median: r(at(0.5)), p95: r(at(0.95)), max: r(s[s.length - 1]!) };
}

const { home, store, writer, app } = await seededDashboard({
  name: 'devices-page',
  devices: DEVICES,
  liveIntervalMs: 50,
});
const server = http.createServer(app);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const VARIANTS = [
  { name: 'whole table (limit=1000, as before paging)', query: '?limit=1000' },
  { name: 'one page (default, 50 rows)', query: '' },
];

// ---- 1. page render ------------------------------------------------------------------------
const results: Record<string, unknown>[] = [];
for (const v of VARIANTS) {
  const query = Object.fromEntries(new URLSearchParams(v.query));
  for (let i = 0; i < 5; i++) await app.renderDevicesPage(query); // warm up
  const renders: number[] = [];
  let bytes = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    bytes = Buffer.byteLength(await app.renderDevicesPage(query));
    renders.push(performance.now() - t);
  }
  const http: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    await (await fetch(`${base}/devices${v.query}`)).text();
    http.push(performance.now() - t);
  }
  results.push({
    view: v.name,
    renderMs: stats(renders),
    httpMs: stats(http),
    kib: Math.round(bytes / 102.4) / 10,
  });
}

// ---- 2. one live update ----------------------------------------------------------------------
for (const v of VARIANTS) {
  const controller = new AbortController();
  const res = await fetch(`${base}/ui/stream/devices${v.query}`, { signal: controller.signal });
  const stream = sseEvents(res);
  /** Reads events until one satisfies `until`; returns the bytes of the events read. */
  const readUntil = async (until: (event: string) => boolean): Promise<number> => {
    let bytes = 0;
    for (;;) {
      const { value, done } = await stream.next();
      if (done) throw new Error('stream ended');
      if (value.event === 'comment') continue; // keep-alive
      bytes += value.bytes;
      if (until(value.raw)) return bytes;
    }
  };
  await readUntil((e) => e.includes('event: swap')); // the initial fragments
  const latency: number[] = [];
  const sent: number[] = [];
  const renderMs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const name = `dev-${String((i * 7) % 50).padStart(4, '0')}`; // on the first page of both views
    const phase: DevicePhase =
      (await store.get('Device', name))!.status.phase === 'Connected' ? 'Disconnected' : 'Connected';
    const t = performance.now();
    await writer.updateStatus('Device', name, (s) => ({ ...s, phase }));
    sent.push(await readUntil((e) => e.includes(`data-device=\\"${name}\\" data-phase=\\"${phase}\\"`)));
    latency.push(performance.now() - t);
    renderMs.push(app.live.stats.lastRenderMs.devices ?? NaN);
    await new Promise((r) => setTimeout(r, 60));
  }
  controller.abort();
  results.push({
    liveUpdate: v.name,
    latencyMs: stats(latency),
    bytesPerUpdate: stats(sent),
    viewRenderMs: stats(renderMs),
  });
}

// ---- 3. topology --------------------------------------------------------------------------
const gateways = await store.list('Gateway');
for (const [name, compactFrom] of [
  ['topology, every device with its name and edge (as before)', Infinity],
  ['topology, compact (one band per gateway)', undefined],
] as const) {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    const devices = await store.list('Device');
    bytes = Buffer.byteLength(topologySvg(gateways, devices, compactFrom).value);
    times.push(performance.now() - t);
  }
  results.push({ view: name, renderMs: stats(times), kib: Math.round(bytes / 102.4) / 10 });
}

for (const r of results) console.log(JSON.stringify(r));
console.log(
  JSON.stringify({
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model}`,
    load: os.loadavg(),
    node: process.version,
  }),
);

app.shutdown();
server.closeAllConnections();
server.close();
fs.rmSync(home, { recursive: true, force: true });
process.exit(0);
