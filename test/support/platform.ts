/**
 * Starts a real, isolated platform for one test file: a Temporal dev server on free ports
 * and the orchestrator, gateway and web processes, with their own data dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { expect } from 'vitest';
import { REPO_ROOT } from '../../common/repo-root.js';
import { spawnPlatformProcess, type PlatformProcessKind } from '../../platform/processes.js';
import { formatLogLine } from '../../common/log-format.js';
import { METRICS_PORTS } from '../../platform/telemetry.js';
import { loadConfig } from '../../common/config.js';
import { volumeFiles } from '../../device/volume-layout.js';
import { callHost } from '../../host/control.js';
import { findDeviceHost, HOST_ENTRY, hostLogFile } from '../../host/supervisor.js';
import { findProcessesMatching, isAlive, terminate } from '../../runtimes/process-table.js';
import { startDevServer, type DevServer } from '../../temporal/dev-server.js';
import { freePort } from './ports.js';
import { startPostgres, type PostgresServer } from './postgres.js';
import { waitFor } from './wait.js';
import { callApi } from './api-call.js';

export interface TestPlatform {
  home: string;
  env: NodeJS.ProcessEnv;
  temporal: DevServer;
  client: Client;
  webUrl: string;
  gatewayPort: number;
  gatewayHealthUrl: string;
  /** Running processes by name: the kind, or the name given to start(). */
  processes: Map<string, ChildProcess>;
  logs: Map<string, string[]>;
  /**
   * Where each started process serves metrics (host:port): `metrics` (prom-client, the gateway's
   * health port) and `temporal` (the Temporal SDK's), by process name.
   */
  metricsTargets: Map<string, { metrics?: string; temporal?: string }>;
  /**
   * Starts a platform process; `name` and `env` let a test run a second gateway, or device hosts
   * of its own (`host`, with WASMBED_HOST_ID; the worker then runs with WASMBED_START_HOST=false).
   */
  start(
    kind: PlatformProcessKind | 'host',
    options?: { name?: string; env?: NodeJS.ProcessEnv },
  ): Promise<ChildProcess>;
  /** Starts one more gateway named `name` on ports of its own; its device port is returned. */
  startGateway(name: string): Promise<{ child: ChildProcess; port: number }>;
  /** Stops the Temporal dev server and starts it again on the same port and database file. */
  restartTemporal(): Promise<void>;
  api(method: string, pathname: string, body?: unknown): Promise<{ status: number; body: any }>;
  /**
   * What runs the device now: its boot id (`<host pid>:<boot>` in the device host); empty when it
   * does not run. A new id means it was restarted.
   */
  deviceProcesses(device: string): string[];
  /** The device host's id, and its pid (undefined while none runs). */
  hostId: string;
  hostPid(): number | undefined;
  /** The platform's PostgreSQL (started with `postgres: true`; its URL is WASMBED_DATABASE_URL). */
  postgres?: PostgresServer;
  /** Cuts one virtual device's power in the host. */
  killDevice(device: string): Promise<void>;
  stop(): Promise<void>;
}

const READY_LINES: Record<PlatformProcessKind | 'host', RegExp> = {
  host: /device host ready/,
  orchestrator: /orchestrator worker ready/,
  gateway: /gateway ready/,
  web: /dashboard on/,
};

export async function startTestPlatform(
  options: {
    env?: NodeJS.ProcessEnv;
    durableTemporal?: boolean;
    /** Shared state in a throwaway PostgreSQL cluster of its own instead of SQLite. */
    postgres?: boolean;
    /** Dynamic config of the Temporal dev server (temporal/dev-server.ts). */
    temporalDynamicConfig?: Record<string, number | string | boolean>;
  } = {},
): Promise<TestPlatform> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-test-'));
  const postgres = options.postgres ? await startPostgres() : undefined;
  const reaper = startReaper([home, ...(postgres ? [path.dirname(postgres.dataDir)] : [])]);
  const [temporalPort, httpPort, metricsPort, webPort, gatewayPort, healthPort] = await Promise.all(
    Array.from({ length: 6 }, freePort),
  );
  const temporalOptions = {
    port: temporalPort!,
    httpPort,
    metricsPort,
    logFile: path.join(home, 'temporal.log'),
    dbFile: options.durableTemporal ? path.join(home, 'temporal.db') : undefined,
    dynamicConfig: options.temporalDynamicConfig,
  };
  let temporal = await startDevServer(temporalOptions);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WASMBED_HOME: home,
    TEMPORAL_ADDRESS: temporal.address,
    WASMBED_WEB_PORT: String(webPort),
    WASMBED_GATEWAY_PORT: String(gatewayPort),
    WASMBED_GATEWAY_HEALTH_PORT: String(healthPort),
    WASMBED_HEARTBEAT_INTERVAL_MS: '500',
    WASMBED_HEARTBEAT_TIMEOUT_MS: '3000',
    ...(postgres ? { WASMBED_DATABASE_URL: postgres.url } : {}),
    // Metrics on ephemeral ports unless start() assigns one (files and helpers run side by side).
    ...Object.fromEntries(
      Object.entries(METRICS_PORTS).flatMap(([kind, ports]) => [
        ...(ports.metrics === undefined ? [] : [[`WASMBED_${kind.toUpperCase()}_METRICS_PORT`, '0']]),
        ...(ports.temporal === undefined
          ? []
          : [[`WASMBED_${kind.toUpperCase()}_TEMPORAL_METRICS_PORT`, '0']]),
      ]),
    ),
    ...options.env,
  };
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  const processes = new Map<string, ChildProcess>();
  const logs = new Map<string, string[]>();
  const metricsTargets = new Map<string, { metrics?: string; temporal?: string }>();
  const webUrl = `http://127.0.0.1:${webPort}`;
  const hostId = loadConfig(env).host.id;

  async function start(
    kind: PlatformProcessKind | 'host',
    startOptions: { name?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<ChildProcess> {
    const name = startOptions.name ?? kind;
    const { env: telemetryEnv, targets } = await metricsPortsFor(kind, { ...env, ...startOptions.env });
    metricsTargets.set(name, targets);
    if (kind === 'orchestrator') {
      // The orchestrator starts the device host, which inherits its environment: its ports too.
      const host = await metricsPortsFor('host', env);
      Object.assign(telemetryEnv, host.env);
      metricsTargets.set('host', host.targets);
    }
    const childEnv = { ...env, ...telemetryEnv, ...startOptions.env };
    const child =
      kind === 'host'
        ? spawn(process.execPath, ['--import', 'tsx', HOST_ENTRY], {
            cwd: REPO_ROOT,
            env: childEnv,
            stdio: ['ignore', 'pipe', 'pipe'],
          })
        : spawnPlatformProcess(kind, childEnv);
    const lines: string[] = [];
    logs.set(name, lines);
    processes.set(name, child);
    let ready = false;
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        lines.push(line);
        if (process.env.WASMBED_TEST_VERBOSE) process.stderr.write(`[${name}] ${formatLogLine(line)}\n`);
        if (READY_LINES[kind].test(line)) ready = true;
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    await waitFor(
      `${kind} to be ready`,
      () => {
        if (child.exitCode !== null) throw new Error(`${name} exited: ${lines.slice(-20).join('\n')}`);
        return ready;
      },
      60_000,
    );
    return child;
  }

  async function startGateway(name: string): Promise<{ child: ChildProcess; port: number }> {
    const [port, health] = await Promise.all([freePort(), freePort()]);
    const child = await start('gateway', {
      name,
      env: {
        WASMBED_GATEWAY_NAME: name,
        WASMBED_GATEWAY_PORT: String(port),
        WASMBED_GATEWAY_HEALTH_PORT: String(health),
      },
    });
    return { child, port };
  }

  /** Everything this platform started, stopped; its logs kept (test-artifacts/), its home removed. */
  async function stopEverything(): Promise<void> {
    reaper.kill('SIGKILL'); // stopped here, in order; its job was a run that dies first
    for (const child of processes.values()) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await Promise.all(findStrayDevices(home).map((pid) => terminate(pid, 500)));
    await connection.close();
    await temporal.stop();
    await postgres?.destroy();
    keepLogs(logs, home);
    fs.rmSync(home, { recursive: true, force: true });
  }

  try {
    await start('gateway');
    await start('orchestrator');
    await start('web');
    // The orchestrator's device host polling its queue: the API starts provisioning there (one
    // created before the host registered runs its host steps as a child instead, a different shape).
    if (loadConfig(env).host.supervised) {
      await waitFor(
        'the device host to be ready',
        () => {
          // (Or in the copy the host's log bound made, WASMBED_HOST_LOG_MAX_BYTES, if it was quick.)
          const log = hostLogFile(home, hostId);
          return [log, `${log}.1`].some(
            (file) => fs.existsSync(file) && READY_LINES.host.test(fs.readFileSync(file, 'utf8')),
          );
        },
        60_000,
      );
    }
  } catch (err) {
    // A platform that did not come up is not returned, so its caller cannot stop it: without
    // this its worker lived on past the test run, starting device hosts in a deleted home.
    await stopEverything().catch(() => {});
    throw err;
  }

  const platform: TestPlatform = {
    home,
    env,
    get temporal() {
      return temporal;
    },
    client,
    webUrl,
    gatewayPort: gatewayPort!,
    gatewayHealthUrl: `http://127.0.0.1:${healthPort}`,
    processes,
    logs,
    metricsTargets,
    start,
    startGateway,
    async restartTemporal() {
      await temporal.stop();
      temporal = await startDevServer(temporalOptions);
    },
    api(method, pathname, body) {
      return callApi(webUrl, method, pathname, body);
    },
    deviceProcesses(device) {
      let bootId: string;
      try {
        bootId = fs.readFileSync(volumeFiles(path.join(home, 'volumes', device)).booted, 'utf8');
      } catch {
        return [];
      }
      const pid = Number(bootId.split(':')[0]);
      if (!isAlive(pid)) return [];
      return [bootId];
    },
    hostId,
    postgres,
    hostPid() {
      return findDeviceHost(home, hostId)[0];
    },
    async killDevice(device) {
      await callHost(home, hostId, { op: 'powerOff', device });
    },
    stop: stopEverything,
  };
  return platform;
}

/**
 * The platform's process output and the devices' own logs outlive the run in
 * test-artifacts/platform-logs/<test file>/: a failure on CI can then be read after the fact.
 */
function keepLogs(logs: Map<string, string[]>, home: string): void {
  let dir = '';
  try {
    // Benchmarks start platforms outside vitest: no test file then.
    const testPath = process.env.VITEST ? expect.getState().testPath : undefined;
    const testFile = path.basename(testPath ?? process.argv[1] ?? 'platform', '.ts').replace(/\.test$/, '');
    dir = path.join(REPO_ROOT, 'test-artifacts', 'platform-logs', `${testFile}-${path.basename(home)}`);
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, lines] of logs)
      fs.writeFileSync(path.join(dir, `${name}.log`), lines.join('\n') + '\n');
    for (const file of fs.readdirSync(home, { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.log') || file === 'temporal.log') continue;
      fs.copyFileSync(path.join(home, file), path.join(dir, file.replaceAll(path.sep, '__')));
    }
  } catch (err) {
    process.stderr.write(`could not keep the platform's logs in ${dir}: ${String(err)}\n`);
  }
}

/**
 * Free ports for the metrics of one process (its prom-client port, its Temporal SDK port), so
 * a test can scrape them; the gateway's prom-client metrics are on its health port.
 */
async function metricsPortsFor(
  kind: PlatformProcessKind | 'host',
  env: NodeJS.ProcessEnv,
): Promise<{ env: NodeJS.ProcessEnv; targets: { metrics?: string; temporal?: string } }> {
  // A process kind without telemetry ports (yet) gets none.
  const ports: { metrics?: number; temporal?: number } =
    (METRICS_PORTS as Record<string, { metrics?: number; temporal?: number }>)[kind] ?? {};
  const prefix = `WASMBED_${kind.toUpperCase()}`;
  const out: NodeJS.ProcessEnv = {};
  const targets: { metrics?: string; temporal?: string } = {};
  if (ports.metrics !== undefined) {
    out[`${prefix}_METRICS_PORT`] = String(await freePort());
    targets.metrics = `127.0.0.1:${out[`${prefix}_METRICS_PORT`]}`;
  } else if (kind === 'gateway') {
    targets.metrics = `127.0.0.1:${env.WASMBED_GATEWAY_HEALTH_PORT}`;
  }
  if (ports.temporal !== undefined) {
    out[`${prefix}_TEMPORAL_METRICS_PORT`] = String(await freePort());
    targets.temporal = `127.0.0.1:${out[`${prefix}_TEMPORAL_METRICS_PORT`]}`;
  }
  return { env: out, targets };
}

/** Device hosts of `home` and device processes whose volume lies under it, whatever their name. */
/**
 * Starts test/support/reaper.mjs for this platform: if this process dies without stop() (vitest
 * killed, say), it kills what belongs to `dirs` and removes them, instead of a worker, a device
 * host and its devices running on with nothing to stop them.
 */
function startReaper(dirs: string[]): ChildProcess {
  const reaper = spawn(
    process.execPath,
    [path.join(REPO_ROOT, 'test', 'support', 'reaper.mjs'), String(process.pid), ...dirs],
    {
      detached: true,
      stdio: 'ignore',
      env: { PATH: process.env.PATH ?? '' }, // (not the platform's: it must not take itself for one of its processes)
    },
  );
  reaper.unref();
  return reaper;
}

function findStrayDevices(home: string): number[] {
  return findProcessesMatching((argv) =>
    argv.some((arg) => arg.startsWith(`--volume=${home}`) || arg === `--home=${path.resolve(home)}`),
  );
}
