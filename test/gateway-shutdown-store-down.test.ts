/**
 * A gateway stopped while its store is down: its shutdown waits for the store only until a
 * deadline and names what it could not write. It tried each kept status write once more, each try
 * the PostgreSQL pool's 10 s of retrying — twice over when the outage began during the shutdown
 * (~20 s), a shutdown a rolling update's SIGKILL cut short — and logged only a count. Real
 * PostgreSQL, stopped; the gateway's Device status writer (gateway/device-status-writes.ts).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../common/logger.js';
import type { DeviceStatus } from '../common/resources.js';
import { deviceStatusWrites } from '../gateway/device-status-writes.js';
import { openPostgresDatabase, type PostgresDatabase } from '../store/postgres/database.js';
import { PostgresResourceStore } from '../store/postgres/resource-store.js';
import { startPostgres, type PostgresServer } from './support/postgres.js';
import { waitFor } from './support/wait.js';

const DEADLINE_MS = 2_000;
let pg: PostgresServer;
let db: PostgresDatabase;
let store: PostgresResourceStore;

beforeAll(async () => {
  pg = await startPostgres();
  db = await openPostgresDatabase(pg.url);
  store = await PostgresResourceStore.open(db);
  for (const name of ['dev-1', 'dev-2'])
    await store.create(
      'Device',
      name,
      { mcuType: 'Mps2An385', runtime: 'virtual' },
      { phase: 'Connected', conditions: [], apps: {} },
    );
  await pg.stop('fast');
}, 120_000);

afterAll(async () => {
  await store?.close();
  await db?.close();
  await pg?.destroy();
});

const writer = () =>
  deviceStatusWrites({ store, logger: createLogger('test-gateway'), retryMs: { first: 200, max: 500 } });
const disconnected = (s: DeviceStatus): DeviceStatus => ({ ...s, phase: 'Disconnected' });

it('stops by its deadline when the store went down during the shutdown, naming the write under way', async () => {
  const writes = writer();
  writes.change('dev-1', 'session', disconnected); // a session closed by the shutdown
  const t0 = Date.now();
  const unwritten = await writes.flush(Date.now() + DEADLINE_MS);
  expect(Date.now() - t0).toBeLessThan(DEADLINE_MS + 1_000);
  expect(unwritten).toEqual([{ name: 'dev-1', fields: ['session'] }]);
}, 30_000);

it('with the outage known, tries one write by the deadline and names every field it kept', async () => {
  const writes = writer();
  writes.change('dev-2', 'session', disconnected);
  await waitFor('the outage to be known', () => writes.storeUnavailable, 30_000);
  writes.change('dev-2', 'lastHeartbeat', (s) => ({ ...s, lastHeartbeat: new Date().toISOString() }));
  const t0 = Date.now();
  const unwritten = await writes.flush(Date.now() + DEADLINE_MS);
  expect(Date.now() - t0).toBeLessThan(DEADLINE_MS + 1_000);
  expect(unwritten).toEqual([{ name: 'dev-2', fields: ['session', 'lastHeartbeat'] }]);
}, 60_000);
