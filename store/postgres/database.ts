/**
 * Opening the shared PostgreSQL database (WASMBED_DATABASE_URL): a pool, the migrations applied,
 * and what the stores need from it. One per process; every PostgreSQL store of the process uses it.
 */
import type { Logger } from '../../common/logger.js';
import { migrate } from './migrate.js';
import { openPool, type PgPool } from './pool.js';

export interface PostgresDatabase {
  readonly url: string;
  readonly pool: PgPool;
  readonly logger?: Pick<Logger, 'warn'>;
  close(): Promise<void>;
}

export interface OpenPostgresOptions {
  /** Shows in pg_stat_activity (e.g. `wasmbed-gateway`). */
  applicationName?: string;
  logger?: Pick<Logger, 'warn'>;
  /** Pool size (default 10). */
  maxConnections?: number;
}

/** Connects and brings the schema up to date (safe while other processes do the same). */
export async function openPostgresDatabase(
  url: string,
  options: OpenPostgresOptions = {},
): Promise<PostgresDatabase> {
  const pool = openPool(url, { applicationName: options.applicationName, max: options.maxConnections });
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    url,
    pool,
    logger: options.logger,
    close: () => (closed ??= pool.end()),
  };
}
