/**
 * Versioned schema migrations, run by every process at start (platform/context.ts). The files
 * are `migrations/NNN-name.sql`, applied in order, each in its own transaction together with its
 * row in `schema_migrations`, so a migration is either applied and recorded or neither.
 *
 * Several processes start at once (a worker, gateways, hosts, the web): each takes the same
 * session-level advisory lock first, so one applies what is missing while the others wait,
 * then find everything recorded and apply nothing. A database already migrated by a newer
 * release (versions this code does not know) is left as it is: migrations only add.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WasmbedError, errorMessage } from '../../common/errors.js';
import { classify, isConnectionError, type PgPool } from './pool.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
const FILE_NAME = /^(\d{3})-([a-z0-9-]+)\.sql$/;

/** The lock every migrating process takes (any constant; this one spells "wasmbed"). */
const MIGRATION_LOCK = 0x7761736d626564;

/** The migrations shipped with this code, in version order. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const migrations = fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .map((file) => {
      const m = FILE_NAME.exec(file);
      if (!m) throw new WasmbedError('BadMigration', `${path.join(dir, file)}: name it NNN-name.sql`);
      return { version: Number(m[1]), name: m[2]!, sql: fs.readFileSync(path.join(dir, file), 'utf8') };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new WasmbedError(
        'BadMigration',
        `migration ${m.version}-${m.name} breaks the sequence 1, 2, 3, …`,
      );
  });
  return migrations;
}

/** Applies what is missing; returns the versions this call applied. */
export async function migrate(pool: PgPool, migrations: Migration[] = loadMigrations()): Promise<number[]> {
  let client;
  try {
    client = await pool.connect();
  } catch (err) {
    throw classify(err, 'migrate the database');
  }
  const applied: number[] = [];
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const { rows } = await client.query<{ version: number; name: string }>(
        'SELECT version, name FROM schema_migrations',
      );
      const done = new Map(rows.map((r) => [r.version, r.name]));
      for (const migration of migrations) {
        const recorded = done.get(migration.version);
        if (recorded !== undefined) {
          if (recorded !== migration.name) {
            throw new WasmbedError(
              'BadMigration',
              `database has migration ${migration.version} as "${recorded}", this code as "${migration.name}"`,
            );
          }
          continue;
        }
        try {
          await client.query('BEGIN');
          await client.query(migration.sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
            migration.version,
            migration.name,
          ]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          const action = `apply migration ${migration.version}-${migration.name}`;
          if (isConnectionError(err)) throw classify(err, action);
          throw new WasmbedError('BadMigration', `cannot ${action}: ${errorMessage(err)}`, { cause: err });
        }
        applied.push(migration.version);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    }
  } catch (err) {
    if (isConnectionError(err)) broken = err as Error;
    throw classify(err, 'migrate the database');
  } finally {
    client.release(broken);
  }
  return applied;
}
