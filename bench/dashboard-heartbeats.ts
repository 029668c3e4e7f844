/**
 * Dashboard change-to-screen latency with 20 open pages in real headless Chromium while 1,000
 * devices heartbeat.
 *
 * The heartbeats take the real path: 1,000 mutual-TLS sessions from a fleet process
 * (bench/support/fleet-process.ts) to the gateway's DeviceServer in its own process
 * (bench/support/gateway-process.ts), which writes each device's `lastHeartbeat` to the SQLite
 * store through gateway/heartbeat-writes.ts, exactly as gateway/main.ts does; the devices are the
 * dashboard's seeded fleet (bench/support/seeded-dashboard.ts), so every write lands on a device
 * the devices list watches. The web app runs in this process on the same database file (the
 * live views poll its change feed as the web process does), with the web's default live tick.
 *
 * Three phases, the same 20 pages open throughout: no heartbeats; heartbeats coalesced (at most
 * one write per device per 15 s heartbeat timeout: the platform now); a write per heartbeat (the
 * platform before coalescing). In each, `--changes` devices shown on the pages change phase one
 * after another (a write through another store connection, as the worker would); each page
 * records, in a MutationObserver, the moment its DOM shows the new phase. Latency = that moment −
 * the write (both wall clocks of this machine).
 *
 *   npx tsx bench/dashboard-heartbeats.ts [--quick] [--devices=1000] [--pages=20] [--changes=20] [--out=file.json]
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { DevicePhase } from '../common/resources.js';
import { launchBrowser } from '../test/support/browser.js';
import { freePort } from '../test/support/ports.js';
import {
  cleanup,
  cpuPercent,
  scratchDir,
  startFleetProcess,
  startGatewayProcess,
  type BenchGateway,
} from './support/gateway-bench.js';
import type { BenchChild } from './support/ipc.js';
import { seededDashboard } from './support/seeded-dashboard.js';
import { machine, parseArgs, round, sleep, summarize, writeOut } from './support/stats.js';

const args = parseArgs();
const devices = args.int('devices', args.quick ? 100 : 1000);
const pageCount = args.int('pages', args.quick ? 4 : 20);
const changes = args.int('changes', args.quick ? 5 : 20);
const HEARTBEAT_INTERVAL_MS = 5000;
const HEARTBEAT_TIMEOUT_MS = 15_000;
const PREFIX = 'hb';
const progress = (line: string) =>
  process.stderr.write(`[dashboard-heartbeats] ${line} (load ${machine().loadAverage.join(' ')})\n`);

const dir = scratchDir('bench-dashboard-heartbeats');
const { home, writer, app } = await seededDashboard({
  name: 'dashboard-heartbeats',
  devices,
  deviceName: (i) => `${PREFIX}-${i}`,
});
const server = http.createServer(app);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
let browser: Browser | undefined;
let gateway: BenchGateway | undefined;
let fleet: BenchChild | undefined;
const results = [];
const startMachine = machine();

/** In the page: records when a device's row first shows an expected phase (epoch ms). */
function installObserver() {
  const w = window as unknown as { __want: Record<string, string>; __seen: Record<string, number> };
  w.__want = {};
  w.__seen = {};
  new MutationObserver(() => {
    for (const [name, phase] of Object.entries(w.__want)) {
      const row = document.querySelector<HTMLElement>(`tr[data-device="${name}"]`);
      if (row?.dataset.phase === phase) {
        w.__seen[`${name}:${phase}`] = Date.now();
        delete w.__want[name];
      }
    }
  }).observe(document.body, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ['data-phase'],
  });
}

async function measureChanges(pages: Page[], targets: string[], label: string) {
  const latencies: number[] = [];
  let missed = 0;
  const before = { ...app.live.stats, cpu: process.cpuUsage(), at: performance.now() };
  const g0 = gateway ? await gateway.stats() : undefined;
  for (let i = 0; i < changes; i++) {
    const name = targets[i % targets.length]!;
    const current = (await writer.get('Device', name))?.status.phase;
    const phase: DevicePhase = current === 'Disconnected' ? 'Connected' : 'Disconnected';
    // The same device and phase come back in a later phase of the run: forget the earlier sighting.
    await Promise.all(
      pages.map((p) =>
        p.evaluate(
          ([n, ph]) => {
            const w = window as unknown as { __want: Record<string, string>; __seen: Record<string, number> };
            delete w.__seen[`${n}:${ph}`];
            w.__want[n] = ph;
          },
          [name, phase] as const,
        ),
      ),
    );
    const writtenAt = Date.now();
    await writer.updateStatus('Device', name, (s) => ({ ...s, phase }));
    const key = `${name}:${phase}`;
    const deadline = Date.now() + 30_000;
    const seen = new Map<number, number>();
    while (seen.size < pages.length && Date.now() < deadline) {
      await sleep(100);
      await Promise.all(
        pages.map(async (p, index) => {
          if (seen.has(index)) return;
          const at = await p.evaluate((k) => (window as any).__seen[k] as number | undefined, key);
          if (at !== undefined) seen.set(index, at);
        }),
      );
    }
    missed += pages.length - seen.size;
    for (const at of seen.values()) latencies.push(at - writtenAt);
    await sleep(500);
  }
  const seconds = (performance.now() - before.at) / 1000;
  const g1 = gateway ? await gateway.stats() : undefined;
  const after = app.live.stats;
  const result = {
    heartbeats: label,
    pages: pages.length,
    changes,
    observations: latencies.length,
    missed,
    latencyMs: summarize(latencies),
    storeWritesPerS:
      g0 && g1 ? round((g1.heartbeatWrites.done - g0.heartbeatWrites.done) / ((g1.at - g0.at) / 1000), 1) : 0,
    rendersPerS: round((after.renders - before.renders) / seconds, 1),
    eventsSentPerS: round((after.eventsSent - before.eventsSent) / seconds, 1),
    kibSentPerS: round((after.bytesSent - before.bytesSent) / 1024 / seconds, 1),
    webProcessCpuPercent: cpuPercent(before.cpu, process.cpuUsage(), seconds * 1000),
    gatewayCpuPercent: g0 && g1 ? cpuPercent(g0.cpu, g1.cpu, g1.at - g0.at) : 0,
    sessions: g1?.sessions ?? 0,
    loadAverage: machine().loadAverage,
  };
  progress(JSON.stringify(result));
  return result;
}

try {
  browser = await launchBrowser();
  const pages: Page[] = [];
  for (let i = 0; i < pageCount; i++) {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/devices`);
    await page.waitForSelector('tr[data-device]');
    await page.evaluate(installObserver);
    pages.push(page);
  }
  // Devices the pages show (the first page of the list): the ones whose phase changes.
  const targets = await pages[0]!.$$eval('tr[data-device]', (rows) =>
    rows.map((r) => (r as HTMLElement).dataset.device!),
  );
  await sleep(2000); // every page's event stream open
  progress(`${pageCount} pages open, ${targets.length} devices on each`);
  results.push(await measureChanges(pages, targets, 'none'));

  const port = await freePort();
  for (const [label, minIntervalMs] of [
    [`coalesced: ≤ 1 write per device per ${HEARTBEAT_TIMEOUT_MS / 1000} s`, HEARTBEAT_TIMEOUT_MS],
    ['a write per heartbeat (before coalescing)', 0],
  ] as const) {
    gateway = await startGatewayProcess(dir, {
      home,
      port,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
      heartbeats: { store: { backend: 'sqlite', file: path.join(home, 'wasmbed.db') }, minIntervalMs },
    });
    if (!fleet) {
      fleet = await startFleetProcess(dir, 'fleet', {
        home,
        endpoint: `127.0.0.1:${port}`,
        prefix: PREFIX,
        count: devices,
        concurrency: 32,
        behaviour: 'ack',
      });
      await fleet.call('prepare', {}, 900_000);
    }
    const { connected } = await fleet.call<{ connected: number }>('connect', {}, 900_000);
    progress(`${connected} devices heartbeating every ${HEARTBEAT_INTERVAL_MS / 1000} s (${label})`);
    // Past the connect burst's first writes: the steady rate of this mode.
    await sleep(HEARTBEAT_INTERVAL_MS * 2);
    results.push(await measureChanges(pages, targets, label));
    await fleet.call('close', { timeoutMs: 10_000 }, 30_000);
    await gateway.child.call('stop', {}, 60_000).catch(() => gateway!.child.kill());
    await gateway.child.exited;
    gateway = undefined;
  }
} finally {
  await browser?.close();
  await cleanup(dir, gateway, fleet ? [fleet] : [], args.flag('keep-logs'));
  app.shutdown();
  server.closeAllConnections();
  server.close();
  fs.rmSync(home, { recursive: true, force: true });
}

console.log(
  `\n${devices} devices, ${pageCount} devices pages in headless Chromium, ${changes} phase changes per row; load average at start ${startMachine.loadAverage.join(' ')}`,
);
console.log(
  '| heartbeats | store writes/s | change → screen p50 / p90 / max | missed | renders/s | SSE events/s | KiB/s sent | web CPU | gateway CPU | load avg |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of results) {
  console.log(
    `| ${r.heartbeats} | ${r.storeWritesPerS} | ${r.latencyMs.p50} / ${r.latencyMs.p90} / ${r.latencyMs.max} ms | ${r.missed} | ${r.rendersPerS} | ${r.eventsSentPerS} | ${r.kibSentPerS} | ${r.webProcessCpuPercent} % | ${r.gatewayCpuPercent} % | ${r.loadAverage.join(' ')} |`,
  );
}
writeOut(args.string('out'), { machine: startMachine, devices, pages: pageCount, changes, results });
process.exit(0);
