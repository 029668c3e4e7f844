/**
 * A throwaway PostgreSQL cluster for one test file: Debian's PostgreSQL binaries (installed by
 * `node scripts/setup.mjs --with-postgres`), `initdb` into its own data dir under a temp dir, a
 * free port on 127.0.0.1 only, one database, password authentication over TCP. Stop and start
 * keep the data dir, so a test can take the server away under a running platform and bring it
 * back; `destroy()` stops it and removes everything.
 *
 * PostgreSQL refuses to run as root, and CI runs the tests as root: then every server command
 * runs as the `postgres` OS user (Debian's package creates it) and the temp dir is given to it.
 * As any other user the commands run as that user.
 *
 * Self-contained on purpose (Node built-ins and ports.ts only): other suites start their own
 * clusters with it.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

export interface PostgresServer {
  /** `postgres://wasmbed:<password>@127.0.0.1:<port>/wasmbed`: the database made at start. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** The server's log file (its tail is in every error this module throws). */
  readonly logFile: string;
  /** Another empty database on the same server; returns its URL. */
  createDatabase(name: string): Promise<string>;
  /**
   * Stops the server, keeping its data. `fast` (default) rolls back open transactions and closes
   * sessions cleanly; `immediate` is a crash (recovery runs at the next start).
   */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same data dir and port. */
  start(): Promise<void>;
  /** stop(mode) then start(). */
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  readonly running: boolean;
  /** Stops it (immediately) and removes the temp dir. Safe to call twice. */
  destroy(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Name of the database made at start (default `wasmbed`). */
  database?: string;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
}

const USER = 'wasmbed';
const PREFERRED_MAJOR = '15';

/** The directory of Debian's PostgreSQL binaries: $WASMBED_PG_BIN, else 15, else the newest. */
export function postgresBinDir(): string {
  const explicit = process.env.WASMBED_PG_BIN;
  if (explicit) return explicit;
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base)
    ? fs
        .readdirSync(base)
        .filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const chosen = versions.includes(PREFERRED_MAJOR) ? PREFERRED_MAJOR : versions[0];
  if (!chosen) {
    throw new Error(
      `PostgreSQL is not installed (no ${base}/*/bin/initdb): run "node scripts/setup.mjs --with-postgres" ` +
        '(as root) or "apt-get install postgresql", or set WASMBED_PG_BIN',
    );
  }
  return path.join(base, chosen, 'bin');
}

/** Who runs the server: the postgres OS user when we are root, else ourselves. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch (err) {
    throw new Error(
      'running as root, but there is no "postgres" OS user to run PostgreSQL as (install Debian\'s postgresql package)',
      { cause: err },
    );
  }
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Runs a PostgreSQL binary as the server user; throws with its output (and the log) on failure. */
function runAs(
  user: { uid: number; gid: number } | undefined,
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile?: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
      ...(user ?? {}),
      // pg_ctl start leaves the postmaster behind: it must not die with a test's process group.
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) return resolve();
      const log = logFile ? `\n--- server log (tail) ---\n${tail(logFile)}` : '';
      reject(
        new Error(
          `${path.basename(bin)} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${output.trim()}${log}`,
        ),
      );
    });
  });
}

/** Starts a new cluster with one database. Call destroy() in afterAll. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const user = serverUser();
  const database = options.database ?? 'wasmbed';
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-pg-'));
  // The server user needs to create its data dir, socket and log here.
  if (user) fs.chownSync(root, user.uid, user.gid);
  const dataDir = path.join(root, 'data');
  const logFile = path.join(root, 'postgres.log');
  const password = crypto.randomBytes(18).toString('base64url');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LC_ALL: 'C',
    HOME: root,
    PGPASSWORD: password,
  };

  const pwFile = path.join(root, 'pwfile');
  fs.writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (user) fs.chownSync(pwFile, user.uid, user.gid);
  try {
    await runAs(
      user,
      path.join(bin, 'initdb'),
      [
        '-D',
        dataDir,
        '-U',
        USER,
        `--pwfile=${pwFile}`,
        '--auth-host=scram-sha-256',
        '--auth-local=scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
      ],
      env,
    );
  } catch (err) {
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  } finally {
    fs.rmSync(pwFile, { force: true });
  }

  let port = 0;
  let running = false;
  let destroyed = false;
  const serverOptions = (): string =>
    Object.entries({
      listen_addresses: '127.0.0.1',
      port,
      // The socket goes into our own dir: /var/run/postgresql may not exist or not be ours.
      unix_socket_directories: `'${root}'`,
      max_connections: 200,
      shared_buffers: '32MB',
      // A throwaway cluster: durability against an OS crash buys nothing here, speed does. A
      // commit still writes its WAL to the kernel before it returns (synchronous_commit stays
      // on), so a server crash (stop('immediate')) loses no committed transaction.
      fsync: 'off',
      full_page_writes: 'off',
      ...options.settings,
    })
      .map(([name, value]) => `-c ${name}=${value}`)
      .join(' ');

  const pgCtl = (args: string[]) => runAs(user, path.join(bin, 'pg_ctl'), args, env, logFile);
  const start = async (): Promise<void> => {
    if (running) return;
    await pgCtl(['start', '-D', dataDir, '-l', logFile, '-w', '-t', '120', '-o', serverOptions()]);
    running = true;
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    if (!running) return;
    await pgCtl(['stop', '-D', dataDir, '-m', mode, '-w', '-t', '120']);
    running = false;
  };

  // A port that was free a moment ago may be taken by the time the server binds it: try again.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (err) {
      if (attempt >= 5 || !/could not bind|Address already in use/i.test(tail(logFile, 10))) {
        fs.rmSync(root, { recursive: true, force: true });
        throw err;
      }
    }
  }

  const urlOf = (db: string) => `postgres://${USER}:${password}@127.0.0.1:${port}/${db}`;
  const createDatabase = async (name: string): Promise<string> => {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`"${name}" is not a plain database name`);
    await runAs(
      user,
      path.join(bin, 'createdb'),
      ['-h', '127.0.0.1', '-p', String(port), '-U', USER, name],
      env,
      logFile,
    );
    return urlOf(name);
  };

  // A test process that dies without destroy() must not leave a server behind.
  const onExit = (): void => {
    if (!running) return;
    spawnSync(path.join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate'], {
      stdio: 'ignore',
      env,
      ...(user ?? {}),
    });
    fs.rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  try {
    await createDatabase(database);
  } catch (err) {
    await stop('immediate').catch(() => {});
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  }

  return {
    url: urlOf(database),
    get port() {
      return port;
    },
    dataDir,
    logFile,
    createDatabase,
    stop,
    start,
    async restart(mode = 'fast') {
      await stop(mode);
      await start();
    },
    get running() {
      return running;
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      process.removeListener('exit', onExit);
      await stop('immediate').catch(() => {});
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
