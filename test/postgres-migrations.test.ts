/**
 * The PostgreSQL schema: versioned migrations applied once however many processes start at
 * the same moment, on a real throwaway cluster (test/support/postgres.ts), which also has to
 * survive a crash and a restart with its data.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { ValidationError } from '../common/errors.js';
import { loadMigrations, migrate } from '../store/postgres/migrate.js';
import { openPool } from '../store/postgres/pool.js';
import { startPostgres, type PostgresServer } from './support/postgres.js';

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.destroy();
});

async function scalar<T>(url: string, sql: string): Promise<T> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return Object.values((await client.query(sql)).rows[0] as object)[0] as T;
  } finally {
    await client.end();
  }
}

describe('migrations', () => {
  it('four processes migrating an empty database at once apply each migration exactly once', async () => {
    const url = await server.createDatabase('concurrent');
    const pools = [1, 2, 3, 4].map((i) => openPool(url, { applicationName: `migrator-${i}` }));
    try {
      const applied = await Promise.all(pools.map((pool) => migrate(pool)));
      const versions = loadMigrations().map((m) => m.version);
      expect(versions.length).toBeGreaterThanOrEqual(5);
      // Every version applied by exactly one of the four; the others found it recorded.
      expect(applied.flat().sort((a, b) => a - b)).toEqual(versions);
      expect(await scalar<string>(url, 'SELECT count(*) FROM schema_migrations')).toBe(
        String(versions.length),
      );
      // And the schema is there: the one-active-certificate index among it.
      expect(
        await scalar<string>(
          url,
          "SELECT count(*) FROM pg_indexes WHERE indexname = 'certificates_one_active_per_device'",
        ),
      ).toBe('1');
      // A later start applies nothing.
      expect(await migrate(pools[0]!)).toEqual([]);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('migration 8 writes the claim certificate serials of older rows in whole bytes', async () => {
    const url = await server.createDatabase('claim_serials');
    const pool = openPool(url);
    try {
      await migrate(
        pool,
        loadMigrations().filter((m) => m.version < 8),
      );
      const row = (id: string, serial: string | null) =>
        pool.query(
          `INSERT INTO claim_credentials (id, kind, secret_sha256, serial, device_name, created_at, expires_at)
           VALUES ($1, $2, $3, $4, 'board', 'now', 'later')`,
          [id, serial === null ? 'token' : 'certificate', serial === null ? `hash-${id}` : null, serial],
        );
      // Written before: the serial 0x0abc… without its leading zero nibble; one already whole; a token.
      await row('clc-odd', 'bc123');
      await row('clc-even', '0abc12');
      await row('clt-token', null);
      expect(await migrate(pool)).toContain(8);
      const serials = await pool.query<{ id: string; serial: string | null }>(
        'SELECT id, serial FROM claim_credentials ORDER BY id',
      );
      expect(serials.rows).toEqual([
        { id: 'clc-even', serial: '0abc12' },
        { id: 'clc-odd', serial: '0bc123' },
        { id: 'clt-token', serial: null },
      ]);
    } finally {
      await pool.end();
    }
  });

  it('refuses a database whose recorded migration has another name than this code', async () => {
    const url = await server.createDatabase('drifted');
    const pool = openPool(url);
    try {
      await migrate(pool);
      await pool.query("UPDATE schema_migrations SET name = 'something-else' WHERE version = 2");
      await expect(migrate(pool)).rejects.toThrow(
        /migration 2 as "something-else", this code as "certificates"/,
      );
    } finally {
      await pool.end();
    }
  });

  it('rolls back a failing migration whole and names it', async () => {
    const url = await server.createDatabase('failing');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-migrations-'));
    fs.writeFileSync(path.join(dir, '001-good.sql'), 'CREATE TABLE good (id int);');
    fs.writeFileSync(
      path.join(dir, '002-bad.sql'),
      'CREATE TABLE half (id int); SELECT * FROM missing_table;',
    );
    const pool = openPool(url);
    try {
      await expect(migrate(pool, loadMigrations(dir))).rejects.toThrow(
        /cannot apply migration 2-bad: relation "missing_table" does not exist/,
      );
      expect(await scalar<string>(url, 'SELECT count(*) FROM schema_migrations')).toBe('1');
      expect(await scalar<string | null>(url, "SELECT to_regclass('half')::text")).toBeNull();
    } finally {
      await pool.end();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses migration files that are misnamed or skip a version', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-migrations-'));
    try {
      fs.writeFileSync(path.join(dir, '001-a.sql'), 'SELECT 1;');
      fs.writeFileSync(path.join(dir, '003-c.sql'), 'SELECT 1;');
      expect(() => loadMigrations(dir)).toThrow(/migration 3-c breaks the sequence/);
      fs.writeFileSync(path.join(dir, '2_b.sql'), 'SELECT 1;');
      expect(() => loadMigrations(dir)).toThrow(/2_b\.sql: name it NNN-name\.sql/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the test cluster', () => {
  it('keeps its data across a crash (immediate stop) and a clean restart', async () => {
    const url = await server.createDatabase('restarts');
    const client = new pg.Client(url);
    await client.connect();
    await client.query('CREATE TABLE kept (v text)');
    await client.query("INSERT INTO kept VALUES ('before')");
    await client.end();
    await server.restart('immediate');
    expect(await scalar<string>(url, 'SELECT v FROM kept')).toBe('before');
    await server.stop();
    expect(server.running).toBe(false);
    await expect(scalar(url, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    await server.start();
    expect(await scalar<string>(url, 'SELECT v FROM kept')).toBe('before');
  });
});

describe('WASMBED_DATABASE_URL', () => {
  it('is read as a PostgreSQL URL, and anything else is refused without echoing it', () => {
    expect(loadConfig({}).databaseUrl).toBeUndefined();
    expect(loadConfig({ WASMBED_DATABASE_URL: server.url }).databaseUrl).toBe(server.url);
    expect(loadConfig({ WASMBED_DATABASE_URL: 'postgresql://db.example:5432/wasmbed' }).databaseUrl).toMatch(
      /^postgresql:/,
    );
    for (const bad of ['mysql://u:secret@h/db', 'not a url secret', 'postgres://']) {
      const attempt = () => loadConfig({ WASMBED_DATABASE_URL: bad });
      expect(attempt, bad).toThrow(ValidationError);
      expect(attempt, bad).toThrow(/WASMBED_DATABASE_URL must be a PostgreSQL URL/);
      expect(attempt, bad).not.toThrow(/secret/);
    }
  });
});
