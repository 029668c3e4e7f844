/**
 * A DeviceServer alone in its own process (like test/support/in-process-gateway.ts), so a
 * benchmark measures the gateway's RSS and CPU without the fleet's. Started by the gateway
 * benchmarks with an IPC channel; prints `{"port":…}` on stdout and sends a 'ready' event.
 *
 * Commands (bench/support/ipc.ts): stats {gc?}, rtt {requests, inFlight, timeoutMs}, stop.
 * With `heartbeats` it also writes heartbeats to a resource store the way gateway/main.ts does
 * (gateway/heartbeat-writes.ts, in the background of the TLS sessions) and counts those writes.
 * Standalone: `npx tsx bench/support/gateway-process.ts '{"home":"/tmp/x"}'` (Ctrl-C stops).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { paths } from '../../common/config.js';
import { createLogger } from '../../common/logger.js';
import { currentCertificateCheck } from '../../gateway/current-certificate.js';
import { DeviceServer, type GatewayLimits } from '../../gateway/device-server.js';
import { coalescedHeartbeatWrites } from '../../gateway/heartbeat-writes.js';
import { SessionRegistry } from '../../gateway/session-registry.js';
import {
  CertificateAuthority,
  DeviceCertificates,
  SqliteCertificateRepository,
  type KeyType,
} from '../../pki/index.js';
import { openDatabase } from '../../store/sqlite.js';
import { openBenchStore, type BenchStoreConfig } from './bench-stores.js';
import { serveIpc } from './ipc.js';
import { summarize } from './stats.js';

export interface GatewayProcessConfig {
  home?: string;
  host?: string;
  /** Default: any free port. A fixed one lets one fleet process connect to gateway after gateway. */
  port?: number;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  limits?: Partial<GatewayLimits>;
  /** Key type of the fresh CA and of the gateway's server key (defaults: the platform's). */
  caKeyType?: KeyType;
  serverKeyType?: KeyType;
  /** Write each device's heartbeats to this store, at most once per `minIntervalMs` (0: every one). */
  heartbeats?: { store: BenchStoreConfig; minIntervalMs: number };
}

const config = JSON.parse(process.argv[2] ?? '{}') as GatewayProcessConfig;
const home = config.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-bench-gw-'));
const heartbeatIntervalMs = config.heartbeatIntervalMs ?? 30_000;

const ca = await CertificateAuthority.loadOrCreate(paths.pki(home), {
  ...(config.caKeyType ? { keyType: config.caKeyType } : {}),
});
const db = openDatabase(paths.db(home));
const certificates = new DeviceCertificates(ca, new SqliteCertificateRepository(db));
const serverCert = ca.issueServerCertificate({
  commonName: 'gateway-bench',
  dnsNames: ['localhost'],
  ipAddresses: Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 1}`),
  ...(config.serverKeyType ? { keyType: config.serverKeyType } : {}),
});
const registry = new SessionRegistry();
const heartbeatStore = config.heartbeats ? await openBenchStore(config.heartbeats.store) : undefined;
/** The heartbeat path's store writes, counted here; latencies and pendingMax since the last reset. */
const writes = {
  heartbeats: 0,
  issued: 0,
  done: 0,
  failed: 0,
  pending: 0,
  pendingMax: 0,
  errors: {} as Record<string, number>,
};
let writeLatencies: number[] = [];
const heartbeatWrites = coalescedHeartbeatWrites({
  minIntervalMs: config.heartbeats?.minIntervalMs ?? 0,
  // As the gateway's Device status writes: in the background, the session never waits for it.
  write: (device, at) => {
    if (!heartbeatStore) return;
    writes.issued++;
    writes.pending++;
    writes.pendingMax = Math.max(writes.pendingMax, writes.pending);
    const started = performance.now();
    return heartbeatStore.store
      .updateStatus('Device', device, (s) => ({ ...s, lastHeartbeat: at.toISOString() }))
      .then(
        () => {
          writes.done++;
          writeLatencies.push(performance.now() - started);
        },
        (err: unknown) => {
          writes.failed++;
          const key = err instanceof Error ? err.message.slice(0, 120) : String(err);
          writes.errors[key] = (writes.errors[key] ?? 0) + 1;
        },
      )
      .finally(() => writes.pending--);
  },
});
registry.on('down', (session) => heartbeatWrites.forget(session.info.device));
let upEvents = 0;
let downEvents = 0;
registry.on('up', () => upEvents++);
let tlsResumed = 0;
let tlsFull = 0;
registry.on('down', () => downEvents++);
const server = new DeviceServer({
  tls: { certPem: serverCert.certPem, keyPem: serverCert.keyPem!, caPem: ca.certPem },
  registry,
  isCurrentCertificate: currentCertificateCheck(certificates),
  heartbeatIntervalMs,
  heartbeatTimeoutMs: config.heartbeatTimeoutMs ?? heartbeatIntervalMs * 3,
  limits: config.limits ?? {},
  logger: createLogger('bench-gateway'),
  onHeartbeat: (session) => {
    writes.heartbeats++;
    heartbeatWrites.heartbeat(session.device, session.lastHeartbeat ?? new Date());
  },
});
// The gateway's own view of TLS resumption (the client's socket may be gone by the time it is asked).
server.server.on('secureConnection', (socket) => (socket.isSessionReused() ? tlsResumed++ : tlsFull++));
const port = await server.listen(config.host ?? '127.0.0.1', config.port ?? 0);
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function openFds(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

function stats(args: { gc?: boolean; resetLoopDelay?: boolean }) {
  if (args.gc) (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  const { requestOutcomes } = server.metrics;
  const counters = server.metrics.counts();
  const result = {
    at: performance.now(),
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    cpu: process.cpuUsage(),
    sessions: registry.size,
    upEvents,
    downEvents,
    tlsResumed,
    tlsFull,
    handshakesInFlight: server.inFlightHandshakes,
    openFds: openFds(),
    metrics: { ...counters, requestOutcomes: Object.fromEntries(requestOutcomes) },
    loopDelayMs: {
      p50: loopDelay.percentile(50) / 1e6,
      p99: loopDelay.percentile(99) / 1e6,
      max: loopDelay.max / 1e6,
      mean: loopDelay.mean / 1e6,
    },
    heartbeatWrites: { ...writes, errors: { ...writes.errors }, latencyMs: summarize(writeLatencies) },
  };
  if (args.resetLoopDelay) {
    loopDelay.reset();
    writeLatencies = [];
    writes.pendingMax = writes.pending;
  }
  return result;
}

/** StopApplication → StopAck round trips measured here, on the gateway side; round robin over sessions. */
async function rtt(args: { requests: number; inFlight: number; timeoutMs?: number }) {
  const sessions = registry.list();
  if (sessions.length === 0) throw new Error('no sessions');
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const worker = async () => {
    while (next < args.requests) {
      const index = next++;
      const session = sessions[index % sessions.length]!;
      const t0 = performance.now();
      try {
        const reply = await session.request(
          { type: 'StopApplication', appId: `bench-${index}` },
          { timeoutMs: args.timeoutMs ?? 10_000 },
        );
        if (reply.type !== 'StopAck') throw new Error(`unexpected ${reply.type}`);
        latencies.push(performance.now() - t0);
      } catch (err) {
        const key = (err as { reason?: string }).reason ?? (err as Error).message;
        failures[key] = (failures[key] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(args.inFlight, args.requests)) }, worker));
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    sessions: sessions.length,
    requests: args.requests,
    inFlight: args.inFlight,
    ok: latencies.length,
    failures,
    wallMs,
    perSecond: (latencies.length / wallMs) * 1000,
    gatewayCpuMsPerRequest: (cpu.user + cpu.system) / 1000 / Math.max(1, latencies.length),
    latencyMs: summarize(latencies),
  };
}

async function stop() {
  loopDelay.disable();
  await Promise.race([server.close(), new Promise((r) => setTimeout(r, 10_000))]);
  db.close();
  await heartbeatStore?.close();
  if (!config.home) fs.rmSync(home, { recursive: true, force: true });
  setTimeout(() => process.exit(0), 50);
  return { stopped: true };
}

console.log(JSON.stringify({ port, home, pid: process.pid }));
if (process.send) {
  serveIpc({ stats, rtt, stop });
  process.send({ event: 'ready', port, home, pid: process.pid });
} else {
  process.once('SIGINT', () => void stop());
}
