/**
 * One behaviour, every backend: the store contract (test/support/store-contract.ts) on the
 * SQLite store (a temporary database file) and on PostgreSQL (a throwaway cluster from Debian's
 * packages, test/support/postgres.ts), each test on a fresh database opened by several store
 * instances, the way several processes share one.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { openPostgresDatabase, type PostgresDatabase } from '../store/postgres/database.js';
import { PostgresResourceStore } from '../store/postgres/resource-store.js';
import { startPostgres, type PostgresServer } from './support/postgres.js';
import { device, resourceStoreContract, sharedStateContract } from './support/store-contract.js';
import { SqliteCertificateRepository } from '../pki/sqlite-certificate-repository.js';
import { SqliteClaimCredentialStore } from '../pki/sqlite-claim-credential-store.js';
import { FileModuleStore } from '../store/file-module-store.js';
import { SqliteDeviceLogs } from '../store/sqlite-device-logs.js';
import { PostgresCertificateRepository } from '../store/postgres/certificate-repository.js';
import { PostgresClaimCredentialStore } from '../store/postgres/claim-store.js';
import { PostgresDeviceLogs } from '../store/postgres/device-logs.js';
import { PostgresModuleStore } from '../store/postgres/module-store.js';
import { waitFor } from './support/wait.js';
import { loadConfig, paths } from '../common/config.js';
import { openModuleStore, openPlatform } from '../platform/context.js';

resourceStoreContract({
  name: 'SQLite',
  watchable: true,
  async database() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-contract-'));
    const opened: SqliteResourceStore[] = [];
    return {
      async open() {
        const store = new SqliteResourceStore(openDatabase(path.join(dir, 'wasmbed.db')));
        opened.push(store);
        return store;
      },
      async dispose() {
        for (const store of opened) await store.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

let server: PostgresServer;
let contractUrl: string;
beforeAll(async () => {
  server = await startPostgres();
  contractUrl = await server.createDatabase('contract');
});

/**
 * The contract database emptied for the next test: cheaper than a new database each time (no
 * CREATE DATABASE, no migrations), and just as empty.
 */
async function emptied(): Promise<string> {
  const db = await openPostgresDatabase(contractUrl);
  try {
    await db.pool.query(
      `TRUNCATE resources, resource_deletions, certificates, claim_credentials, device_logs, modules RESTART IDENTITY;
       ALTER SEQUENCE resource_revision RESTART`,
    );
  } finally {
    await db.close();
  }
  return contractUrl;
}
afterAll(async () => {
  await server?.destroy();
});

resourceStoreContract({
  name: 'PostgreSQL',
  watchable: true,
  async database() {
    const url = await emptied();
    const opened: { db: PostgresDatabase; store: PostgresResourceStore }[] = [];
    return {
      async open() {
        const db = await openPostgresDatabase(url, { applicationName: `contract-${opened.length}` });
        const store = await PostgresResourceStore.open(db);
        opened.push({ db, store });
        return store;
      },
      async dispose() {
        for (const { db, store } of opened) {
          await store.close();
          await db.close();
        }
      },
    };
  },
});

sharedStateContract({
  name: 'SQLite',
  async database() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-contract-'));
    const opened: { close(): void }[] = [];
    return {
      async open() {
        const db = openDatabase(path.join(dir, 'wasmbed.db'));
        opened.push(db);
        return {
          certificates: new SqliteCertificateRepository(db),
          claims: new SqliteClaimCredentialStore(db),
          logs: new SqliteDeviceLogs(db),
          modules: new FileModuleStore(path.join(dir, 'modules')),
        };
      },
      async dispose() {
        for (const db of opened) db.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

sharedStateContract({
  name: 'PostgreSQL',
  async database() {
    const url = await emptied();
    const opened: PostgresDatabase[] = [];
    return {
      async open() {
        const db = await openPostgresDatabase(url);
        opened.push(db);
        return {
          certificates: new PostgresCertificateRepository(db),
          claims: new PostgresClaimCredentialStore(db),
          logs: new PostgresDeviceLogs(db),
          modules: new PostgresModuleStore(db),
        };
      },
      async dispose() {
        for (const db of opened) await db.close();
      },
    };
  },
});

describe('PostgreSQL change feed across lost connections', () => {
  let url: string;
  let writerDb: PostgresDatabase;
  let watcherDb: PostgresDatabase;
  let writer: PostgresResourceStore;
  let watcher: PostgresResourceStore;

  beforeAll(async () => {
    url = await server.createDatabase('feed');
    writerDb = await openPostgresDatabase(url, { applicationName: 'feed-writer' });
    watcherDb = await openPostgresDatabase(url, { applicationName: 'feed-watcher' });
    writer = await PostgresResourceStore.open(writerDb);
    watcher = await PostgresResourceStore.open(watcherDb);
  });
  afterAll(async () => {
    await writer?.close();
    await watcher?.close();
    await writerDb?.close();
    await watcherDb?.close();
  });

  const create = (name: string) => {
    const d = device(name);
    return writer.create('Device', d.name, d.spec, d.status, d.labels);
  };

  it('catches up on what changed while its connection was cut: ADDED, MODIFIED and DELETED', async () => {
    const events: { type: string; name: string }[] = [];
    const stop = watcher.watch({ kind: 'Device' }, (e) => events.push({ type: e.type, name: e.name }));
    await create('kept');
    await create('doomed');
    await waitFor('the feed to hear of both', () => events.filter((e) => e.type === 'ADDED').length === 2);
    events.length = 0;
    // Cut the feed's connection from the server side, and change things before it is back.
    const { rows } = await writerDb.pool.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
       WHERE application_name = 'wasmbed-feed' AND query ILIKE 'LISTEN%' AND datname = current_database()`,
    );
    expect(rows[0]!.n).toBeGreaterThanOrEqual(1);
    await create('born');
    await writer.updateStatus('Device', 'kept', (s) => ({ ...s, phase: 'Connected' }));
    await writer.delete('Device', 'doomed');
    await waitFor(
      'the catch-up',
      () => events.some((e) => e.type === 'DELETED' && e.name === 'doomed'),
      30_000,
    );
    expect(events).toEqual(
      expect.arrayContaining([
        { type: 'ADDED', name: 'born' },
        { type: 'MODIFIED', name: 'kept' },
        { type: 'DELETED', name: 'doomed' },
      ]),
    );
    stop();
  });

  it('comes back after PostgreSQL restarts, and the pool serves again', async () => {
    const events: string[] = [];
    const stop = watcher.watch({ kind: 'Device', name: 'after-restart' }, (e) => events.push(e.type));
    await server.restart('immediate');
    // The first writes may meet the pool's dead connections or a server still recovering:
    // they fail as DatabaseUnavailable (retryable), never hang.
    await waitFor(
      'the store to write again',
      async () => Boolean(await create('after-restart')),
      30_000,
      200,
    );
    await waitFor('the event after the restart', () => events.includes('ADDED'), 30_000);
    expect(await watcher.get('Device', 'after-restart')).toBeDefined();
    stop();
  });
});

describe("the controller's module store (openModuleStore)", () => {
  it('is where openPlatform keeps modules: PostgreSQL with a database URL, else files', async () => {
    const module = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-modules-'));
    try {
      for (const env of [
        { WASMBED_HOME: home, WASMBED_DATABASE_URL: await emptied() },
        { WASMBED_HOME: home },
      ]) {
        const config = loadConfig(env);
        const platform = await openPlatform(config);
        const controller = await openModuleStore(config);
        try {
          const { sha256 } = await platform.modules.put(module);
          expect(await controller.modules.get(sha256)).toEqual(Buffer.from(module));
        } finally {
          await controller.close();
          await platform.close();
        }
      }
      // Only the second (no database URL) wrote files.
      expect(fs.readdirSync(paths.modules(home))).toHaveLength(1);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
