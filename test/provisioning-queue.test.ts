/**
 * Which host's queue a burst of new devices starts on (services/provisioning-queue.ts): the store
 * counts a device on its host only once its run has placed it, so every pick of a burst read the
 * same counts, and the host they favoured took nearly the whole burst (two empty hosts got 88 and
 * 12 of a batch of 100 on one PostgreSQL). Real SQLite store and host registry; no run places the
 * devices here, so the store's counts stay as stale as a burst sees them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hostTaskQueue } from '../common/config.js';
import type { DeviceSpec } from '../common/resources.js';
import { provisioningQueue, RECENT_PICK_MS } from '../services/provisioning-queue.js';
import { SqliteHostRegistry } from '../store/host-registry.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { openDatabase } from '../store/sqlite.js';

let dir: string;
let store: SqliteResourceStore;
let hosts: SqliteHostRegistry;
let clock = Date.now();

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-provisioning-queue-'));
  const db = openDatabase(path.join(dir, 'wasmbed.db'));
  store = new SqliteResourceStore(db);
  hosts = new SqliteHostRegistry(db);
  for (const id of ['host-a', 'host-b'])
    await hosts.beat({ id, lastSeen: clock, pid: 1, devices: 0, restartedAt: 0 });
  // host-b holds 5 devices already.
  for (let i = 0; i < 5; i++)
    await store.create(
      'Device',
      `old-${i}`,
      {} as DeviceSpec,
      { phase: 'Connected', conditions: [], apps: {}, host: 'host-b' },
      {},
    );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('spreads a burst over the hosts by their load, counting its own picks the store does not show yet', async () => {
  const queueFor = provisioningQueue({ store, hosts, hostGraceMs: 30_000, now: () => clock });
  const names = Array.from({ length: 100 }, (_, i) => `new-${i}`);
  const queues = await Promise.all(names.map((name) => queueFor(name))); // all at once, as a batch starts them
  const on = (host: string) => queues.filter((q) => q === hostTaskQueue(host)).length;
  expect(on('host-a') + on('host-b')).toBe(100);
  // Even with host-b's 5: 52 or 53 on host-a, not (almost) all of them.
  expect(Math.abs(on('host-a') - (on('host-b') + 5))).toBeLessThanOrEqual(1);

  // Picks older than RECENT_PICK_MS count no more (the store shows placed devices by then):
  // by the store's counts alone, host-a with none is the one for the next device.
  clock += RECENT_PICK_MS + 1;
  for (const id of ['host-a', 'host-b'])
    await hosts.beat({ id, lastSeen: clock, pid: 1, devices: 0, restartedAt: 0 });
  expect(await queueFor('later')).toBe(hostTaskQueue('host-a'));
  expect(await queueFor('later-2')).toBe(hostTaskQueue('host-a'));
});
