/**
 * The gateway's device log appends (gateway/device-log-writes.ts) against a real SQLite device
 * log, with the store's unavailability switched on and off around it: a wrapper throws the
 * PostgreSQL pool's DatabaseUnavailableError while `down` is set (SQLite itself cannot be
 * unreachable; test/gateway-store-outage.test.ts runs the same writer against a PostgreSQL that
 * is really stopped and cut off).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createLogger } from '../common/logger.js';
import { deviceLogWrites, type NewDeviceLogEntry } from '../gateway/device-log-writes.js';
import type { DeviceLogs } from '../store/device-logs.js';
import { DatabaseUnavailableError } from '../store/postgres/pool.js';
import { openDatabase, type SqliteDatabase } from '../store/sqlite.js';
import { SqliteDeviceLogs } from '../store/sqlite-device-logs.js';
import { waitFor } from './support/wait.js';

let dir: string;
let db: SqliteDatabase;
let stored: SqliteDeviceLogs;
let down: boolean;
let appends: number;
/** The real log, refusing every append while `down`, and each append a few ms late (a remote store). */
let logs: DeviceLogs;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-log-writes-'));
  db = openDatabase(path.join(dir, 'wasmbed.db'));
  stored = new SqliteDeviceLogs(db);
  down = false;
  appends = 0;
  logs = {
    async append(entry) {
      appends++;
      // Later lines of a device often finish first over a pool: random delays show it.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
      if (down) throw new DatabaseUnavailableError('the store is down (test)');
      await stored.append(entry);
    },
    list: (device, options) => stored.list(device, options),
    deleteDevice: (device) => stored.deleteDevice(device),
  };
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const line = (device: string, n: number): NewDeviceLogEntry => ({
  device,
  time: new Date().toISOString(),
  appId: 'app',
  kind: 'log',
  level: 2,
  message: `line ${n}`,
});
const messages = async (device: string) => (await stored.list(device, { limit: 1000 })).map((l) => l.message);
const numbered = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `line ${from + i}`);
const logger = createLogger('test-log-writes');
const fastRetry = { first: 20, max: 50 };

it("writes each device's lines in the order it sent them, devices side by side", async () => {
  const writes = deviceLogWrites({ logs, logger });
  for (let n = 0; n < 60; n++) for (const device of ['a', 'b', 'c']) writes.append(line(device, n));
  await writes.flush(Date.now() + 10_000);
  for (const device of ['a', 'b', 'c']) expect(await messages(device)).toEqual(numbered(0, 60));
  expect(writes.dropped).toBe(0);
});

it('keeps the lines of an outage and writes them, in order, once the store answers', async () => {
  const writes = deviceLogWrites({ logs, logger, retryMs: fastRetry });
  for (let n = 0; n < 5; n++) writes.append(line('a', n));
  await waitFor('the first lines written', async () => (await messages('a')).length === 5);
  down = true;
  for (let n = 5; n < 50; n++) writes.append(line('a', n));
  await waitFor('the outage noticed', () => writes.storeUnavailable);
  const triesBefore = appends;
  await new Promise((resolve) => setTimeout(resolve, 300));
  // One try at a time while down, not one per line.
  expect(appends - triesBefore).toBeLessThan(10);
  expect(writes.pending).toBe(45);
  down = false;
  await waitFor('every line written', async () => (await messages('a')).length === 50);
  expect(await messages('a')).toEqual(numbered(0, 50));
  expect(writes.storeUnavailable).toBe(false);
  expect(writes.pending).toBe(0);
  expect(writes.dropped).toBe(0);
});

it('bounds what it keeps: per device, and in all by dropping the appending device’s oldest', async () => {
  const writes = deviceLogWrites({
    logs,
    logger,
    retryMs: fastRetry,
    maxPending: 30,
    maxPendingPerDevice: 20,
  });
  down = true;
  writes.append(line('quiet', 0));
  await waitFor('the outage noticed', () => writes.storeUnavailable);
  for (let n = 0; n < 25; n++) writes.append(line('chatty', n)); // past its own bound by 5
  for (let n = 0; n < 15; n++) writes.append(line('other', n)); // past the total by 6
  expect(writes.pending).toBe(30);
  expect(writes.dropped).toBe(11);
  down = false;
  await waitFor('the kept lines written', () => writes.pending === 0);
  await writes.flush(Date.now() + 10_000);
  expect(await messages('quiet')).toEqual(['line 0']);
  expect(await messages('chatty')).toEqual(numbered(5, 25));
  expect(await messages('other')).toEqual(numbered(6, 15));
});

it('at shutdown in an outage: one try, and what is left counted as lost', async () => {
  const writes = deviceLogWrites({ logs, logger, retryMs: { first: 60_000, max: 60_000 } });
  down = true;
  for (let n = 0; n < 10; n++) writes.append(line('a', n));
  await waitFor('the outage noticed', () => writes.storeUnavailable);
  expect(await writes.flush(Date.now() + 10_000)).toBe(10);
  expect(writes.dropped).toBe(10);
  expect(writes.pending).toBe(0);

  // A store back by the shutdown takes everything.
  const later = deviceLogWrites({ logs, logger, retryMs: { first: 60_000, max: 60_000 } });
  for (let n = 0; n < 10; n++) later.append(line('b', n));
  await waitFor('the outage noticed', () => later.storeUnavailable);
  down = false;
  expect(await later.flush(Date.now() + 10_000)).toBe(0);
  expect(await messages('b')).toEqual(numbered(0, 10));
});
