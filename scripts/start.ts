/**
 * `npm start`: the whole platform on one machine with its embedded defaults — Temporal dev
 * server (unless TEMPORAL_ADDRESS is set), orchestrator worker, gateway and web. A process
 * that dies is restarted, the dev server too; Ctrl-C stops everything.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { loadConfig, paths } from '../common/config.js';
import { errorMessage } from '../common/errors.js';
import { createLogger, setLogDestination } from '../common/logger.js';
import { formatLogLine } from '../common/log-format.js';
import { PROCESS_ENTRIES, spawnPlatformProcess, type PlatformProcessKind } from '../platform/processes.js';
import { startDevServer, type DevServer } from '../temporal/dev-server.js';
import { ensureWorkflowBundle } from '../temporal/workflow-bundle.js';

// Processes log JSON lines (common/logger.ts); on a terminal they are shown as readable text.
const pretty = process.stderr.isTTY && process.env.WASMBED_LOG_FORMAT !== 'json';
if (pretty) setLogDestination({ write: (line) => writePretty(line) });
const logger = createLogger('start');
const config = loadConfig();
fs.mkdirSync(paths.logs(config.home), { recursive: true, mode: 0o700 });

let temporal: DevServer | undefined;
const env: NodeJS.ProcessEnv = { ...process.env, WASMBED_HOME: config.home };
const devServerOptions = {
  port: config.temporal.devServerPort,
  uiPort: config.temporal.uiPort,
  dbFile: paths.temporalDb(config.home),
  namespace: config.temporal.namespace,
  logFile: `${paths.logs(config.home)}/temporal.log`,
  logMaxBytes: config.temporal.devServerLogMaxBytes,
  onLogError: (err: Error) =>
    logger.warn('could not write the Temporal dev server log', { error: err.message }),
};

/**
 * The dev server, started again on the same port and database whenever it dies, like every other
 * process here: its state is in the file, and the workers, gateway and web reconnect by
 * themselves. Left dead, every workflow of the platform stopped until someone restarted it all.
 */
function keepDevServer(server: DevServer): void {
  server.process.once('exit', (code, signal) => {
    if (stopping) return;
    logger.warn('Temporal dev server exited; restarting in 2 s', { code, signal });
    restartDevServer(1);
  });
}

/** Waits longer after each failed start (its port may still be held), 30 s at most. */
function restartDevServer(attempt: number): void {
  const startAgain = async () => {
    if (stopping) return;
    try {
      temporal = await startDevServer(devServerOptions);
    } catch (err) {
      logger.warn('Temporal dev server did not start; trying again', { error: errorMessage(err), attempt });
      restartDevServer(attempt + 1);
      return;
    }
    logger.info('Temporal dev server restarted', { address: temporal.address });
    keepDevServer(temporal);
  };
  setTimeout(() => void startAgain(), Math.min(2000 * attempt, 30_000));
}

if (!config.temporal.address) {
  logger.info('starting Temporal dev server', {
    port: config.temporal.devServerPort,
    ui: config.temporal.uiUrl,
  });
  temporal = await startDevServer(devServerOptions);
  env.TEMPORAL_ADDRESS = temporal.address;
  keepDevServer(temporal);
} else {
  logger.info('using existing Temporal', { address: config.temporal.address });
}

logger.info('bundling workflow code');
// A traced platform (OTEL_EXPORTER_OTLP_ENDPOINT) runs the bundle with tracing's interceptors.
await ensureWorkflowBundle({ traced: Boolean(process.env.OTEL_EXPORTER_OTLP_ENDPOINT) });

const children = new Map<PlatformProcessKind, ChildProcess>();
let stopping = false;

function writePretty(text: string): void {
  for (const line of text.split('\n')) if (line) process.stderr.write(formatLogLine(line, true) + '\n');
}

/** Whole lines of a child's output, formatted; a partial line waits for its end. */
function prettyLines(stream: NodeJS.ReadableStream): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const text = rest + chunk;
    const end = text.lastIndexOf('\n');
    rest = text.slice(end + 1);
    if (end >= 0) writePretty(text.slice(0, end));
  });
  stream.on('end', () => writePretty(rest));
}

function launch(kind: PlatformProcessKind): void {
  const child = spawnPlatformProcess(kind, env, pretty ? 'pipe' : 'inherit');
  if (pretty) {
    prettyLines(child.stdout!);
    prettyLines(child.stderr!);
  }
  children.set(kind, child);
  child.once('exit', (code, signal) => {
    if (stopping) return;
    logger.warn(`${kind} exited; restarting in 2 s`, { code, signal });
    setTimeout(() => launch(kind), 2000);
  });
}

for (const kind of Object.keys(PROCESS_ENTRIES) as PlatformProcessKind[]) launch(kind);

logger.info('Wasmbed is starting', {
  dashboard: `http://${config.web.host}:${config.web.port}`,
  temporalUi: config.temporal.uiUrl,
  gateway: config.gateway.endpoint,
});

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info('stopping');
  await Promise.all(
    [...children.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 5000).unref();
        }),
    ),
  );
  await temporal?.stop();
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
