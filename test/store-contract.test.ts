/**
 * One behaviour, every backend: the store contract (test/support/store-contract.ts) on the
 * SQLite store (a temporary database file) and on PostgreSQL (a throwaway cluster from Debian's
 * packages, test/support/postgres.ts), each test on a fresh database opened by several store
 * instances, the way several processes share one.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { ResourceStore } from '../store/resource-store.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { openPostgresDatabase, type PostgresDatabase } from '../store/postgres/database.js';
import { PostgresResourceStore } from '../store/postgres/resource-store.js';
import { startPostgres, type PostgresServer } from './support/postgres.js';
import { resourceStoreContract } from './support/store-contract.js';

resourceStoreContract({
  name: 'SQLite',
  async database() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-contract-'));
    const opened: SqliteResourceStore[] = [];
    return {
      async open() {
        const store = new SqliteResourceStore(openDatabase(path.join(dir, 'wasmbed.db')));
        opened.push(store);
        return store as unknown as ResourceStore;
      },
      async dispose() {
        for (const store of opened) await store.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

let server: PostgresServer;
let databases = 0;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.destroy();
});

resourceStoreContract({
  name: 'PostgreSQL',
  async database() {
    const url = await server.createDatabase(`contract_${++databases}`);
    const opened: { db: PostgresDatabase; store: PostgresResourceStore }[] = [];
    return {
      async open() {
        const db = await openPostgresDatabase(url, { applicationName: `contract-${opened.length}` });
        const store = await PostgresResourceStore.open(db);
        opened.push({ db, store });
        return store as unknown as ResourceStore;
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
