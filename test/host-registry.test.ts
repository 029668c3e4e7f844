/**
 * The live device hosts (store/host-registry.ts) on both backends, SQLite and a real PostgreSQL
 * (test/support/postgres.ts): a heartbeat records or refreshes a host, and the list is what
 * placement reads.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteHostRegistry, type HostRegistry } from '../store/host-registry.js';
import { openPostgresDatabase, type PostgresDatabase } from '../store/postgres/database.js';
import { PostgresHostRegistry } from '../store/postgres/host-registry.js';
import { openDatabase, type SqliteDatabase } from '../store/sqlite.js';
import { startPostgres, type PostgresServer } from './support/postgres.js';

let server: PostgresServer;
let postgres: PostgresDatabase;
let sqlite: SqliteDatabase;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-hosts-'));
  sqlite = openDatabase(path.join(dir, 'wasmbed.db'));
  server = await startPostgres();
  postgres = await openPostgresDatabase(server.url);
}, 120_000);
afterAll(async () => {
  sqlite?.close();
  await postgres?.close();
  await server?.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

const backends: [string, () => HostRegistry][] = [
  ['SQLite', () => new SqliteHostRegistry(sqlite)],
  ['PostgreSQL', () => new PostgresHostRegistry(postgres)],
];

describe.each(backends)('host registry on %s', (_name, open) => {
  it('records a heartbeat, refreshes it, and lists hosts in id order', async () => {
    const hosts = open();
    const now = Date.now();
    await hosts.beat({ id: 'host-b', lastSeen: now - 5000, pid: 11, devices: 3, restartedAt: now - 9000 });
    await hosts.beat({ id: 'host-a', lastSeen: now - 1000, pid: 10, devices: 0, restartedAt: now - 2000 });
    // host-b restarted: a new process, a new start.
    await hosts.beat({ id: 'host-b', lastSeen: now, pid: 12, devices: 4, restartedAt: now - 100 });
    expect(await hosts.list()).toEqual([
      { id: 'host-a', lastSeen: now - 1000, pid: 10, devices: 0, restartedAt: now - 2000 },
      { id: 'host-b', lastSeen: now, pid: 12, devices: 4, restartedAt: now - 100 },
    ]);
    expect(await hosts.get('host-b')).toEqual({
      id: 'host-b',
      lastSeen: now,
      pid: 12,
      devices: 4,
      restartedAt: now - 100,
    });
    expect(await hosts.get('nobody')).toBeUndefined();
  });
});

describe('host registry on a SQLite database from before hosts recorded their start', () => {
  it('adds the column, keeps the rows with start 0, and records starts from then on', async () => {
    const old = openDatabase(path.join(dir, 'old.db'));
    try {
      old.exec(`CREATE TABLE device_hosts (
        id TEXT PRIMARY KEY, last_seen INTEGER NOT NULL, pid INTEGER NOT NULL, devices INTEGER NOT NULL)`);
      old.prepare('INSERT INTO device_hosts VALUES (?, ?, ?, ?)').run('host-old', 1000, 7, 2);
      const hosts = new SqliteHostRegistry(old);
      expect(await hosts.get('host-old')).toEqual({
        id: 'host-old',
        lastSeen: 1000,
        pid: 7,
        devices: 2,
        restartedAt: 0,
      });
      await hosts.beat({ id: 'host-old', lastSeen: 5000, pid: 8, devices: 2, restartedAt: 4000 });
      expect((await hosts.get('host-old'))?.restartedAt).toBe(4000);
      // Opening it again finds the column there.
      expect((await new SqliteHostRegistry(old).list()).length).toBe(1);
    } finally {
      old.close();
    }
  });
});
