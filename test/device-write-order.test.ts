/**
 * A device's app states land in its status in the order it reported them. On PostgreSQL each
 * write is a transaction on its own pool connection, and two of them take the row lock in either
 * order: a device that reported its app Deploying and then Running (restoring it from flash as its
 * session came up) kept Deploying for good — 17 of 100 devices after their host restarted, their
 * apps running. Here the store lets the second write overtake the first, as PostgreSQL can.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createLogger } from '../common/logger.js';
import { createDeviceEventHandler } from '../gateway/device-events.js';
import type { SessionInfo } from '../gateway/session-registry.js';
import type { ResourceStore } from '../store/resource-store.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteDeviceLogs } from '../store/sqlite-device-logs.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { storeConnectedDevice } from './support/stored-devices.js';

let home: string;
let db: ReturnType<typeof openDatabase>;
let store: SqliteResourceStore;

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-write-order-'));
  db = openDatabase(path.join(home, 'wasmbed.db'));
  store = new SqliteResourceStore(db);
});
afterEach(async () => {
  await store.close();
  fs.rmSync(home, { recursive: true, force: true });
});

/** The store, but its first Device status write reaches the row 50 ms late: later ones overtake it. */
function overtakingStore(): ResourceStore {
  let deviceWrites = 0;
  const updateStatus: ResourceStore['updateStatus'] = async (kind, name, mutate) => {
    if (kind === 'Device' && deviceWrites++ === 0) await new Promise((r) => setTimeout(r, 50));
    return store.updateStatus(kind, name, mutate);
  };
  return new Proxy(store, {
    get: (target, prop, receiver) =>
      prop === 'updateStatus' ? updateStatus : (Reflect.get(target, prop, receiver) as unknown),
  });
}

it('keeps the state a device reported last, when its earlier write would land later', async () => {
  await storeConnectedDevice(store, 'dev-1');
  const handle = createDeviceEventHandler({
    store: overtakingStore(),
    logs: new SqliteDeviceLogs(db),
    logger: createLogger('test'),
    appStatusDelayMs: 10,
  });
  const report = (state: 'Deploying' | 'Running', messageId: number) =>
    handle({ device: 'dev-1' } as SessionInfo, {
      version: 1,
      messageId,
      body: { type: 'ApplicationStatus', apps: [{ appId: 'blinky', state, error: null, restarts: 0 }] },
    });
  report('Deploying', 1);
  report('Running', 2);
  await new Promise((r) => setTimeout(r, 200));
  await handle.flush(Date.now() + 10_000);
  expect((await store.get('Device', 'dev-1'))!.status.apps).toMatchObject({ blinky: { state: 'Running' } });
});
