/**
 * The embedded Temporal: `temporal server start-dev` with a file-backed SQLite database
 * under the data dir, our search attributes registered and the Web UI on its port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { logChildOutput } from '../common/child-output-log.js';
import { WasmbedError } from '../common/errors.js';
import { RotatingLogFile } from '../common/rotating-log-file.js';
import { SEARCH_ATTRIBUTES } from './search-attributes.js';
import { findTemporalCli } from './cli.js';

export interface DevServerOptions {
  port: number;
  /** Web UI port; `undefined` runs headless (tests). */
  uiPort?: number;
  /** SQLite file for durable state; `undefined` keeps everything in memory. */
  dbFile?: string;
  namespace?: string;
  logFile?: string;
  /**
   * Given: `logFile` never grows past this many bytes — the server's output goes through this
   * process, and the file becomes `<logFile>.1` when full. Not given: the server appends to the
   * file itself (a test's dev server, which lives for one run).
   */
  logMaxBytes?: number;
  /** Where a failed write to the bounded log is told (default: this process's stderr). */
  onLogError?: (err: Error) => void;
  /** The dev server also opens an HTTP API and a metrics port; tests give free ones. */
  httpPort?: number;
  metricsPort?: number;
  /** Dynamic config values (`--dynamic-config-value key=value`), e.g. a lower history limit in a recording. */
  dynamicConfig?: Record<string, number | string | boolean>;
}

export interface DevServer {
  address: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function devServerArgs(options: DevServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(options.port)];
  args.push('--namespace', options.namespace ?? 'default', '--log-level', 'warn');
  if (options.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort), '--ui-disable-news-fetch');
  if (options.dbFile) {
    // WAL with synchronous=normal: a commit no longer waits for an fsync of the database file,
    // which roughly doubles how many workflows per second the dev server completes. Still
    // durable when any process crashes (kill -9 included); only an OS crash or power loss can
    // drop the last commits.
    args.push('--db-filename', options.dbFile);
    args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  }
  for (const attribute of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${attribute.name}=Keyword`);
  if (options.httpPort !== undefined) args.push('--http-port', String(options.httpPort));
  if (options.metricsPort !== undefined) args.push('--metrics-port', String(options.metricsPort));
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  return args;
}

export async function waitForTemporal(address: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  throw new WasmbedError('TemporalUnavailable', `Temporal at ${address} not ready after ${timeoutMs} ms`, {
    cause: lastError,
  });
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const cli = findTemporalCli();
  if (options.dbFile) fs.mkdirSync(path.dirname(options.dbFile), { recursive: true });
  const bounded = options.logFile !== undefined && options.logMaxBytes !== undefined;
  const out = bounded ? 'pipe' : options.logFile ? fs.openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(cli, devServerArgs(options), { stdio: ['ignore', out, out] });
  if (typeof out === 'number') fs.closeSync(out);
  const logged = bounded
    ? logChildOutput(
        child,
        new RotatingLogFile(
          options.logFile!,
          options.logMaxBytes!,
          options.onLogError ??
            ((err) => process.stderr.write(`temporal dev server log ${options.logFile}: ${err.message}\n`)),
        ),
      )
    : Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = `127.0.0.1:${options.port}`;
  try {
    await Promise.race([
      waitForTemporal(address, 60_000),
      exited.then(() => {
        throw new WasmbedError(
          'TemporalExited',
          `temporal server exited with code ${child.exitCode} during start-up` +
            (options.logFile ? `; see ${options.logFile}` : ''),
        );
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      await logged;
    },
  };
}
