/**
 * What observability costs (`npx tsx bench/observability.ts`):
 *
 * 1. Log lines: the old text logger (reproduced here, `time LEVEL [component] message {json}`)
 *    next to the pino JSON logger, 100,000 lines each to /dev/null in one process.
 * 2. Scrapes with 1,000 devices: a real platform whose store holds 1,000 Connected devices (fake
 *    resources written straight into its SQLite store, with identities, heartbeats, step times and
 *    one application on all of them), each process's /metrics fetched 20 times: time and size.
 * 3. Platform CPU with and without scrapes: the same platform workload (10 devices provisioned,
 *    then 30 s of heartbeats every second) once with every target scraped each second, once
 *    without; CPU seconds per process from /proc. Logging cannot be switched off there (the test
 *    platform sees a process ready by its log line), so its share is estimated from the lines the
 *    processes wrote times the per-line cost measured in 1.
 *
 * Numbers go to BENCHMARKS.md ("Observability").
 */
import fs from 'node:fs';
import path from 'node:path';
import { pino, destination, stdTimeFunctions } from 'pino';
import type { Device } from '../common/resources.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { paths } from '../common/config.js';
import { startTestPlatform, type TestPlatform } from '../test/support/platform.js';
import { applicationSpec } from '../test/support/application-spec.js';
import { machine, summarize } from './support/stats.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

// ---- 1. log lines ----------------------------------------------------------------------
function logLines(n: number) {
  const fd = fs.openSync('/dev/null', 'w');
  const fields = { device: 'dev-42', gateway: 'gateway-0', serial: '0a1b2c3d' };
  // The logger this issue replaced (common/logger.ts before), writing synchronously like pino.
  const oldLine = (level: string, component: string, message: string, extra: object) =>
    fs.writeSync(
      fd,
      `${new Date().toISOString()} ${level} [${component}] ${message} ${JSON.stringify(extra)}\n`,
    );
  const json = pino(
    {
      base: undefined,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination({ fd, sync: true }),
  ).child({ component: 'gateway' });
  const time = (fn: () => void) => {
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / n; // µs per line
  };
  // Warm both, then measure alternately.
  time(() => oldLine('INFO', 'gateway', 'device session up', fields));
  time(() => json.info(fields, 'device session up'));
  const old = time(() => oldLine('INFO', 'gateway', 'device session up', fields));
  const neu = time(() => json.info(fields, 'device session up'));
  const dropped = time(() => json.debug(fields, 'device session up')); // below the level
  fs.closeSync(fd);
  return {
    lines: n,
    oldTextUsPerLine: round(old, 3),
    pinoJsonUsPerLine: round(neu, 3),
    ratio: round(neu / old),
    belowLevelUsPerLine: round(dropped, 3),
  };
}

// ---- 2. scrapes with 1,000 devices -------------------------------------------------------
async function fakeFleet(home: string, n: number) {
  const store = new SqliteResourceStore(openDatabase(paths.db(home)));
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const devices: Record<string, { state: 'Running'; restarts: number; since: string }> = {};
  for (let i = 0; i < n; i++) {
    const name = `fake-${String(i).padStart(4, '0')}`;
    await store.create(
      'Device',
      name,
      { mcuType: 'Stm32F746gDisco', runtime: 'external' } as Device['spec'],
      {
        phase: i % 50 === 0 ? 'Disconnected' : 'Connected',
        conditions: [],
        apps: {},
        gateway: { name: 'gateway-0', endpoint: '127.0.0.1:1' },
        lastHeartbeat: iso(now - (i % 5) * 1000),
        identity: { certSerial: String(i), spkiSha256: 'x', notAfter: iso(now + 90 * 86_400_000) },
        steps: [{ name: 'awaitSession', state: 'Succeeded', finishedAt: iso(now - (i % 60) * 60_000) }],
      },
      { group: 'fake' },
    );
    devices[name] = { state: 'Running', restarts: 0, since: iso(now) };
  }
  await store.create('Application', 'fake-app', applicationSpec(), {
    phase: 'Running',
    devices,
    counts: { targeted: n, running: n, failed: 0, pending: 0 },
  });
}

async function scrapes(platform: TestPlatform, times: number) {
  const out: Record<string, { bytes: number; series: number; ms: ReturnType<typeof summarize> }> = {};
  for (const [process, t] of platform.metricsTargets) {
    for (const [endpoint, address] of Object.entries(t)) {
      if (!address) continue;
      const ms: number[] = [];
      let text = '';
      for (let i = 0; i < times; i++) {
        const start = performance.now();
        text = await (await fetch(`http://${address}/metrics`)).text();
        ms.push(performance.now() - start);
      }
      const series = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
      out[`${process}/${endpoint}`] = { bytes: Buffer.byteLength(text), series, ms: summarize(ms) };
    }
  }
  return out;
}

// ---- 3. platform CPU with and without ----------------------------------------------------
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, clock ticks (100 Hz)
}

async function workload(withScrapes: boolean) {
  const platform = await startTestPlatform({
    env: {
      WASMBED_HEARTBEAT_INTERVAL_MS: '1000',
      WASMBED_HEARTBEAT_TIMEOUT_MS: '5000',
    },
  });
  try {
    const before = new Map([...platform.processes].map(([name, child]) => [name, cpuSeconds(child.pid!)]));
    let scraping = withScrapes;
    const scraper = (async () => {
      while (scraping) {
        await Promise.all(
          [...platform.metricsTargets.values()].flatMap((t) =>
            Object.values(t).map((a) => fetch(`http://${a}/metrics`).then((r) => r.text())),
          ),
        );
        await sleep(1000);
      }
    })();
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => platform.api('POST', '/api/v1/devices', { name: `cpu-${i}` })),
    );
    for (;;) {
      const items = (await platform.api('GET', '/api/v1/devices?phase=Connected')).body.items as Device[];
      if (items.length === 10) break;
      await sleep(200);
    }
    const provisionedMs = Date.now() - started;
    await sleep(30_000);
    scraping = false;
    await scraper;
    const cpu = Object.fromEntries(
      [...platform.processes].map(([name, child]) => [
        name,
        round(cpuSeconds(child.pid!) - before.get(name)!),
      ]),
    );
    const lines = Object.fromEntries([...platform.logs].map(([name, l]) => [name, l.length]));
    return {
      provisionedMs,
      cpuSeconds: cpu,
      totalCpuSeconds: round(Object.values(cpu).reduce((a, b) => a + b, 0)),
      logLines: lines,
    };
  } finally {
    await platform.stop();
  }
}

const result: Record<string, unknown> = { machine: machine() };
result.logLines = logLines(100_000);
console.log(JSON.stringify(result.logLines));

{
  const platform = await startTestPlatform();
  try {
    await fakeFleet(platform.home, 1000);
    await scrapes(platform, 3); // warm-up
    result.scrapes1000Devices = await scrapes(platform, 20);
    console.log(JSON.stringify(result.scrapes1000Devices, null, 1));
  } finally {
    await platform.stop();
  }
}

const without = await workload(false);
const withScrapes = await workload(true);
const lines = Object.values(withScrapes.logLines).reduce((a, b) => a + b, 0);
result.platformCpu = {
  without,
  withScrapesEverySecond: withScrapes,
  ratio: round(withScrapes.totalCpuSeconds / without.totalCpuSeconds),
  logLinesWritten: lines,
  estimatedJsonLoggingCpuSeconds: round(
    (lines * (result.logLines as { pinoJsonUsPerLine: number }).pinoJsonUsPerLine) / 1e6,
    4,
  ),
};
console.log(JSON.stringify(result, null, 2));
const out = process.env.WASMBED_BENCH_OUT;
if (out) {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2));
}
