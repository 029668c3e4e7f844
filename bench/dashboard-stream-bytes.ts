/**
 * Bytes of the devices page's live stream while a fleet heartbeats: what one open /devices page
 * costs the network, and the size of the stream's first event (what the page gets right after it
 * was rendered).
 *
 * The web app runs in this process on a seeded SQLite fleet (bench/support/seeded-dashboard.ts),
 * at its default live tick. The page is fetched as a browser would (GET /devices), then its
 * stream is opened from the URL the page names (`data-stream`). Meanwhile a second store
 * connection writes every device's `lastHeartbeat` once per `--period` seconds, spread evenly (the
 * gateway writes a device's heartbeat at most once per heartbeat timeout, 15 s:
 * gateway/heartbeat-writes.ts), and `--phase-changes` devices on the page change phase, evenly
 * over the run. Counted: every byte of the stream, by event type.
 *
 *   npx tsx bench/dashboard-stream-bytes.ts [--devices=1000] [--seconds=60] [--period=15] [--phase-changes=5] [--out=file.json]
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import { seededDashboard } from './support/seeded-dashboard.js';
import { sseEvents } from '../test/support/sse-events.js';
import { kib, machine, parseArgs, sleep, writeOut } from './support/stats.js';

const args = parseArgs();
const devices = args.int('devices', 1000);
const seconds = args.int('seconds', 60);
const periodMs = args.int('period', 15) * 1000;
const phaseChanges = args.int('phase-changes', 5);
const name = (i: number) => `dev-${String(i).padStart(4, '0')}`;

const { home, store, writer, app } = await seededDashboard({ name: 'stream-bytes', devices });
const server = http.createServer(app);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const startMachine = machine();

const pageHtml = await (await fetch(`${base}/devices`)).text();
const streamPath = /data-stream="([^"]*)"/.exec(pageHtml)![1]!.replaceAll('&amp;', '&');

const controller = new AbortController();
const res = await fetch(`${base}${streamPath}`, { signal: controller.signal });
const byEvent = new Map<string, { events: number; bytes: number }>();
let total = 0;
let first: { event: string; bytes: number } | undefined;
const reading = (async () => {
  for await (const { event, bytes } of sseEvents(res)) {
    total += bytes;
    if (!first && event !== 'retry') first = { event, bytes };
    const e = byEvent.get(event) ?? { events: 0, bytes: 0 };
    e.events++;
    e.bytes += bytes;
    byEvent.set(event, e);
  }
})();

// Let the stream's first event arrive before the heartbeats start.
await sleep(2000);
const firstEvent = first;
const startBytes = total;
const started = Date.now();
const writeEvery = periodMs / devices;
let writes = 0;
let nextChange = 1;
while (Date.now() - started < seconds * 1000) {
  const due = Math.floor((Date.now() - started) / writeEvery);
  for (; writes < due; writes++) {
    const beat = new Date().toISOString();
    await writer.updateStatus('Device', name(writes % devices), (s) => ({ ...s, lastHeartbeat: beat }));
  }
  if (phaseChanges && Date.now() - started >= (nextChange * seconds * 1000) / (phaseChanges + 1)) {
    // A device on the page (the first 50 by name) fails.
    await writer.updateStatus('Device', name(nextChange * 7), (s) => ({
      ...s,
      phase: 'Failed',
      message: 'bench',
    }));
    nextChange++;
  }
  await sleep(20);
}
const elapsed = (Date.now() - started) / 1000;
const streamed = total - startBytes;
controller.abort();
await reading;

const result = {
  devices,
  seconds: elapsed,
  heartbeatWrites: writes,
  heartbeatWritesPerSecond: Math.round(writes / elapsed),
  phaseChanges: nextChange - 1,
  firstEvent,
  streamBytesDuringRun: streamed,
  streamKiB: kib(streamed),
  kibPerMinute: kib((streamed / elapsed) * 60),
  byEvent: Object.fromEntries(byEvent),
  renders: app.live.stats.renders,
  machine: { start: startMachine, end: machine() },
};
console.log(JSON.stringify(result, null, 2));
writeOut(args.string('out'), result);
app.shutdown();
server.closeAllConnections();
server.close();
await store.close();
await writer.close();
fs.rmSync(home, { recursive: true, force: true });
