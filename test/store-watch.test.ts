/**
 * The SQLite store's change feed on a real database file, with two store instances on it as two
 * processes would have (web and worker): a watcher hears exactly the writes in its scope, from
 * either instance, in the order they were committed; nothing from before it started or after it
 * stopped; nothing for a write that failed; and old changes are trimmed from the log.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceSpec, DeviceStatus } from '../common/resources.js';
import type { StoreEvent, WatchScope } from '../store/resource-store.js';
import { openDatabase, type SqliteDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { waitFor } from './support/wait.js';

const spec: DeviceSpec = { mcuType: 'Stm32F746gDisco', runtime: 'virtual' };
const status: DeviceStatus = { phase: 'Pending', conditions: [], apps: {} };
const heartbeat = (s: DeviceStatus): DeviceStatus => ({ ...s, lastHeartbeat: new Date().toISOString() });

let dir: string;
let dbs: SqliteDatabase[];
let web: SqliteResourceStore;
let worker: SqliteResourceStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-watch-'));
  const file = path.join(dir, 'wasmbed.db');
  dbs = [openDatabase(file), openDatabase(file)];
  web = new SqliteResourceStore(dbs[0]!, { pollMs: 20 });
  worker = new SqliteResourceStore(dbs[1]!, { pollMs: 20 });
});
afterEach(async () => {
  await web.close();
  await worker.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Collects what a watcher on `store` hears. */
function listen(store: SqliteResourceStore, scope: WatchScope) {
  const events: string[] = [];
  const stop = store.watch(scope, (e: StoreEvent) => events.push(`${e.type} ${e.kind}/${e.name}`));
  return { events, stop };
}

describe('SqliteResourceStore.watch', () => {
  it('hears exactly the changes in scope, from both instances, in commit order', async () => {
    await worker.create('Device', 'before', spec, status); // before anyone watches: not reported
    const one = listen(web, { kind: 'Device', name: 'dev-a' });
    const devices = listen(web, { kind: 'Device' });
    const everything = listen(worker, {});

    await worker.create('Device', 'dev-a', spec, status);
    await web.create('Device', 'dev-b', spec, status);
    await worker.updateStatus('Device', 'dev-b', heartbeat);
    await web.updateStatus('Device', 'dev-a', heartbeat);
    await worker.upsert(
      'Gateway',
      'gw-1',
      { endpoint: '127.0.0.1:1', maxDevices: 10, heartbeatIntervalSeconds: 5, heartbeatTimeoutSeconds: 15 },
      { phase: 'Ready', connectedDevices: 0, conditions: [] },
    );
    await web.createMany('Device', [
      { name: 'dev-c', spec, status },
      { name: 'dev-d', spec, status },
    ]);
    // A failed write changes nothing and is not reported.
    await expect(
      worker.createMany('Device', [
        { name: 'dev-e', spec, status },
        { name: 'dev-a', spec, status },
      ]),
    ).rejects.toThrow(/already exists/);
    await worker.updateStatus('Device', 'dev-a', heartbeat);
    await web.delete('Device', 'dev-a');
    expect(await worker.delete('Device', 'dev-a')).toBe(false); // nothing left to delete: no event
    await worker.upsert(
      'Gateway',
      'gw-1',
      { endpoint: '127.0.0.1:1', maxDevices: 10, heartbeatIntervalSeconds: 5, heartbeatTimeoutSeconds: 15 },
      { phase: 'Unavailable', connectedDevices: 0, conditions: [] },
    );

    const all = [
      'ADDED Device/dev-a',
      'ADDED Device/dev-b',
      'MODIFIED Device/dev-b',
      'MODIFIED Device/dev-a',
      'ADDED Gateway/gw-1',
      'ADDED Device/dev-c',
      'ADDED Device/dev-d',
      'MODIFIED Device/dev-a',
      'DELETED Device/dev-a',
      'MODIFIED Gateway/gw-1',
    ];
    await waitFor('every change heard', () => everything.events.length >= all.length, 10_000, 20);
    await waitFor('the device changes heard', () => devices.events.length >= 8, 10_000, 20);
    await new Promise((r) => setTimeout(r, 200)); // a few more polls: nothing else may arrive
    expect(everything.events).toEqual(all);
    expect(devices.events).toEqual(all.filter((e) => e.includes('Device/')));
    expect(one.events).toEqual(all.filter((e) => e.endsWith('Device/dev-a')));

    // Stopped watchers hear nothing more; the others go on.
    one.stop();
    devices.stop();
    await web.create('Device', 'dev-a', spec, status);
    await waitFor('the new dev-a heard', () => everything.events.length === all.length + 1, 10_000, 20);
    await new Promise((r) => setTimeout(r, 200));
    expect(one.events).toHaveLength(4);
    expect(devices.events).toHaveLength(8);
    everything.stop();
  });

  it('trims changes older than the retention, whoever writes', async () => {
    const file = path.join(dir, 'wasmbed.db');
    const db = openDatabase(file);
    const short = new SqliteResourceStore(db, { retentionMs: 0 });
    try {
      for (let i = 0; i < 499; i++) await short.create('Device', `t-${i}`, spec, status);
      const rows = () => (db.prepare('SELECT count(*) AS n FROM resource_changes').get() as { n: number }).n;
      expect(rows()).toBe(499);
      await new Promise((r) => setTimeout(r, 5)); // the 499 are now strictly older than the next
      await short.create('Device', 't-499', spec, status); // every 500th write trims
      expect(rows()).toBeLessThanOrEqual(1);
    } finally {
      await short.close();
    }
  });
});
