/**
 * The connection pool to PostgreSQL (WASMBED_DATABASE_URL) and the two ways the stores use it:
 * `query` for one statement, `transaction` for several that commit together.
 *
 * A lost connection (PostgreSQL restarting, a network cut, a failover) is a
 * `DatabaseUnavailableError`: activities turn it into a retryable failure
 * (FailureType.DatabaseUnavailable), so a step that ran into a restart simply runs again.
 * Work is retried here only when nothing can have reached the server: getting a connection
 * failed, or the transaction's BEGIN did. A statement that failed later may or may not have
 * committed, so that is the caller's (the activity's) retry, with its idempotency.
 */
import pg from 'pg';
import { WasmbedError, errorMessage } from '../../common/errors.js';

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient;

/** The database cannot be reached right now; retrying later can succeed. */
export class DatabaseUnavailableError extends WasmbedError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DatabaseUnavailable', message, options);
  }
}

/** Socket errors and PostgreSQL's connection-exception, shutdown and too-many-clients codes. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);
const CONNECTION_SQLSTATES = /^(08...|57P0[1-3]|53300)$/;

export function isConnectionError(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || CONNECTION_SQLSTATES.test(code)))
    return true;
  // node-postgres reports a socket that closed under a query with these messages and no code;
  // pg-pool's "timeout exceeded when trying to connect" means no connection of the pool came
  // free (or could be opened) in time — a saturated pool or a slow server, retryable either way.
  return (
    err instanceof Error &&
    /Connection terminated|connection timeout|Client has encountered a connection error|Client was closed|timeout exceeded when trying to connect/i.test(
      err.message,
    )
  );
}

/** A connection error as DatabaseUnavailableError (saying what was being done); others unchanged. */
export function classify(err: unknown, action: string): unknown {
  if (err instanceof DatabaseUnavailableError || !isConnectionError(err)) return err;
  return new DatabaseUnavailableError(
    `PostgreSQL unavailable while trying to ${action}: ${errorMessage(err)}`,
    {
      cause: err,
    },
  );
}

export interface PoolOptions {
  /** Shows in pg_stat_activity: which process holds which connection. */
  applicationName?: string;
  max?: number;
}

/** How long getting a connection is retried while the server is down (it may be restarting). */
const CONNECT_RETRY_MS = 10_000;

export function openPool(url: string, options: PoolOptions = {}): PgPool {
  const pool = new pg.Pool({
    connectionString: url,
    application_name: options.applicationName ?? 'wasmbed',
    max: options.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle connection the server closes (restart, failover) emits here; without a listener
  // the process would die. The pool drops that connection and opens a new one when needed.
  pool.on('error', () => {});
  // A connection that dies while checked out (between two statements of a transaction) emits
  // 'error' on its client, which has no listener then: the next statement on it fails instead,
  // and that failure is what the caller sees (and what drops the connection from the pool).
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** A connection from the pool, retrying for a while when the server cannot be reached. */
async function connect(pool: PgPool, action: string): Promise<PgClient> {
  const deadline = Date.now() + CONNECT_RETRY_MS;
  for (let delay = 100; ; delay = Math.min(delay * 2, 1_000)) {
    try {
      return await pool.connect();
    } catch (err) {
      if (!isConnectionError(err) || Date.now() + delay > deadline) throw classify(err, action);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** One statement on a pooled connection (autocommit); returns its result. */
export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(
  pool: PgPool,
  action: string,
  sql: string,
  params: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  const client = await connect(pool, action);
  try {
    const result = await client.query<R>(sql, params);
    client.release();
    return result;
  } catch (err) {
    // A broken connection must not go back to the pool.
    client.release(isConnectionError(err) ? (err as Error) : undefined);
    throw classify(err, action);
  }
}

/**
 * Runs `fn` in a transaction (READ COMMITTED unless `isolation` says otherwise) and commits;
 * rolls back and rethrows on error. Retried once on a fresh connection when BEGIN itself
 * failed because the pooled connection was dead: then nothing of `fn` ran.
 */
export async function transaction<T>(
  pool: PgPool,
  action: string,
  fn: (client: PgClient) => Promise<T>,
  isolation: 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE' = 'READ COMMITTED',
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await connect(pool, action);
    try {
      await client.query(`BEGIN ISOLATION LEVEL ${isolation}`);
    } catch (err) {
      client.release(err as Error);
      if (attempt === 1 && isConnectionError(err)) continue;
      throw classify(err, action);
    }
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (err) {
      if (isConnectionError(err)) client.release(err as Error);
      else {
        await client.query('ROLLBACK').then(
          () => client.release(),
          (rollbackErr: Error) => client.release(rollbackErr),
        );
      }
      throw classify(err, action);
    }
  }
}
