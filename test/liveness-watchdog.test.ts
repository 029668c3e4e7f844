/**
 * The liveness watchdog (workers/liveness-watchdog.ts) on a real SQLite store and host registry,
 * with its clock and its signal given by the test: which devices' lifecycles it asks for a
 * check when a gateway or a device host goes silent, and that it asks once per silence. (The
 * signal itself, and the lifecycle acting on it, are in workflows.test.ts and recovery.test.ts.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DevicePhase } from '../common/resources.js';
import { createLogger } from '../common/logger.js';
import { SqliteHostRegistry } from '../store/host-registry.js';
import { openDatabase, type SqliteDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { LivenessWatchdog, type LivenessWatchdogOptions } from '../workers/liveness-watchdog.js';
import { device } from './support/store-contract.js';

const STALE_MS = 10_000;
let dir: string;
let db: SqliteDatabase;
let store: SqliteResourceStore;
let hosts: SqliteHostRegistry;
let now: number;
let asked: { device: string; reason: string }[];
let watchdog: LivenessWatchdog;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-watchdog-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(async (context) => {
  db = openDatabase(path.join(dir, `${context.task.id}.db`));
  store = new SqliteResourceStore(db);
  hosts = new SqliteHostRegistry(db);
  now = 1_000_000;
  asked = [];
  watchdog = newWatchdog();
  return () => db.close();
});

/** A watchdog on this test's store, registry and clock; its signals go to `asked` unless given. */
function newWatchdog(options: Partial<LivenessWatchdogOptions> = {}): LivenessWatchdog {
  return new LivenessWatchdog({
    store,
    hosts,
    requestCheck: async (device, reason) => {
      asked.push({ device, reason });
    },
    logger: createLogger('test'),
    gatewayStaleMs: STALE_MS,
    hostDeadMs: STALE_MS,
    now: () => now,
    ...options,
  });
}

async function gatewayBeat(name: string, at = now, phase: 'Ready' | 'Unavailable' = 'Ready') {
  await store.upsert(
    'Gateway',
    name,
    { endpoint: `${name}:8081` } as never,
    {
      phase,
      lastSeen: new Date(at).toISOString(),
    } as never,
  );
}

async function addDevice(
  name: string,
  gateway: string,
  host: string | undefined,
  phase: DevicePhase = 'Connected',
) {
  const d = device(name, { phase, statusGateway: gateway });
  await store.create('Device', name, d.spec, { ...d.status, host });
}

const askedDevices = () => asked.map((a) => a.device).sort();

describe('liveness watchdog', () => {
  it('asks nothing while every gateway and host beats', async () => {
    await gatewayBeat('gw-1');
    await hosts.beat({ id: 'host-1', lastSeen: now, pid: 1, devices: 2, restartedAt: 0 });
    await addDevice('a', 'gw-1', 'host-1');
    await addDevice('b', 'gw-1', 'host-1');
    now += STALE_MS - 1;
    expect(await watchdog.tick()).toBe(0);
    expect(asked).toEqual([]);
  });

  it("asks the lifecycles of a silent gateway's devices once, and again after it came back and went silent again", async () => {
    await gatewayBeat('gw-1');
    await gatewayBeat('gw-2');
    await hosts.beat({ id: 'host-1', lastSeen: now, pid: 1, devices: 3, restartedAt: 0 });
    await addDevice('on-1', 'gw-1', 'host-1');
    await addDevice('on-2', 'gw-2', 'host-1');
    await addDevice('away', 'gw-2', 'host-1', 'Disconnected');
    // Provisioning and Failed devices have no lifecycle watching them.
    await addDevice('new', 'gw-2', 'host-1', 'Provisioning');
    await addDevice('failed', 'gw-2', 'host-1', 'Failed');
    expect(await watchdog.tick()).toBe(0);

    now += STALE_MS;
    await gatewayBeat('gw-1');
    await hosts.beat({ id: 'host-1', lastSeen: now, pid: 1, devices: 3, restartedAt: 0 });
    expect(await watchdog.tick()).toBe(2);
    expect(askedDevices()).toEqual(['away', 'on-2']);
    expect(asked[0]!.reason).toBe('gateway gw-2 went silent');

    // Still silent: not asked again (each lifecycle has its check under way).
    asked = [];
    now += 2000;
    await gatewayBeat('gw-1');
    await hosts.beat({ id: 'host-1', lastSeen: now, pid: 1, devices: 3, restartedAt: 0 });
    expect(await watchdog.tick()).toBe(0);

    // Back, then silent again: asked again.
    await gatewayBeat('gw-2');
    expect(await watchdog.tick()).toBe(0);
    now += STALE_MS;
    await gatewayBeat('gw-1');
    await hosts.beat({ id: 'host-1', lastSeen: now, pid: 1, devices: 3, restartedAt: 0 });
    await watchdog.tick();
    expect(askedDevices()).toEqual(['away', 'on-2']);
  });

  it('counts a gateway that reported itself Unavailable as silent', async () => {
    await gatewayBeat('gw-1', now, 'Unavailable');
    await hosts.beat({ id: 'host-1', lastSeen: now, pid: 1, devices: 1, restartedAt: 0 });
    await addDevice('a', 'gw-1', 'host-1');
    expect(await watchdog.tick()).toBe(1);
  });

  it("asks the lifecycles of a silent device host's devices, whatever their gateway", async () => {
    await gatewayBeat('gw-1');
    await hosts.beat({ id: 'host-1', lastSeen: now, pid: 1, devices: 2, restartedAt: 0 });
    await hosts.beat({ id: 'host-2', lastSeen: now, pid: 2, devices: 1, restartedAt: 0 });
    await addDevice('h1-a', 'gw-1', 'host-1');
    await addDevice('h1-b', 'gw-1', 'host-1', 'Unreachable');
    await addDevice('h2-a', 'gw-1', 'host-2');
    now += STALE_MS;
    await gatewayBeat('gw-1');
    await hosts.beat({ id: 'host-2', lastSeen: now, pid: 2, devices: 1, restartedAt: 0 });
    expect(await watchdog.tick()).toBe(2);
    expect(askedDevices()).toEqual(['h1-a', 'h1-b']);
    expect(asked[0]!.reason).toBe('device host host-1 is gone');
  });

  it("moves the provisioning of a dead host's devices that are still provisioning, once", async () => {
    const rescued: string[] = [];
    const withRescue = newWatchdog({
      rescueProvisioning: async (device, host) => {
        rescued.push(`${device.metadata.name}@${host}`);
      },
    });
    await gatewayBeat('gw-1');
    await hosts.beat({ id: 'host-1', lastSeen: now, pid: 1, devices: 3, restartedAt: 0 });
    await hosts.beat({ id: 'host-2', lastSeen: now, pid: 2, devices: 1, restartedAt: 0 });
    await addDevice('prov', 'gw-1', 'host-1', 'Provisioning');
    await addDevice('pend', 'gw-1', 'host-1', 'Pending');
    await addDevice('conn', 'gw-1', 'host-1');
    await addDevice('elsewhere', 'gw-1', 'host-2', 'Provisioning');
    await addDevice('failed', 'gw-1', 'host-1', 'Failed');
    // Its run started on a host's queue that no host took yet: no host recorded, it may be the dead one's.
    await addDevice('untaken', 'gw-1', undefined, 'Pending');
    now += STALE_MS;
    await gatewayBeat('gw-1');
    await hosts.beat({ id: 'host-2', lastSeen: now, pid: 2, devices: 1, restartedAt: 0 });
    expect(await withRescue.tick()).toBe(4);
    expect(rescued.sort()).toEqual(['pend@host-1', 'prov@host-1', 'untaken@host-1']);
    // A Connected device's lifecycle is asked for a check, as before.
    expect(askedDevices()).toEqual(['conn']);
    // Still dead: not moved again.
    now += 2000;
    await gatewayBeat('gw-1');
    await hosts.beat({ id: 'host-2', lastSeen: now, pid: 2, devices: 1, restartedAt: 0 });
    expect(await withRescue.tick()).toBe(0);
    expect(rescued).toHaveLength(3);
  });

  it('keeps asking the others when one signal fails', async () => {
    const failing = newWatchdog({
      requestCheck: async (device, reason) => {
        if (device === 'b') throw new Error('Temporal unavailable');
        asked.push({ device, reason });
      },
    });
    await gatewayBeat('gw-1', now - STALE_MS);
    await addDevice('a', 'gw-1', 'host-1');
    await addDevice('b', 'gw-1', 'host-1');
    await addDevice('c', 'gw-1', 'host-1');
    expect(await failing.tick()).toBe(3);
    expect(askedDevices()).toEqual(['a', 'c']);
  });
  it('asks again at the next look after a failed signal, while the gateway stays silent', async () => {
    let down = true;
    const flaky = newWatchdog({
      requestCheck: async (device, reason) => {
        if (down && device === 'b') throw new Error('Temporal unavailable');
        asked.push({ device, reason });
      },
    });
    await gatewayBeat('gw-1', now - STALE_MS);
    await addDevice('a', 'gw-1', 'host-1');
    await addDevice('b', 'gw-1', 'host-1');
    expect(await flaky.tick()).toBe(2);
    expect(askedDevices()).toEqual(['a']);
    // Still failing: still due, and only it.
    expect(await flaky.tick()).toBe(1);
    expect(askedDevices()).toEqual(['a']);
    down = false;
    expect(await flaky.tick()).toBe(1);
    expect(askedDevices()).toEqual(['a', 'b']);
    expect(asked.find((a) => a.device === 'b')?.reason).toBe('gateway gw-1 went silent');
    // Done: nothing more to ask while the silence lasts.
    expect(await flaky.tick()).toBe(0);
    expect(asked).toHaveLength(2);
  });

  it('drops a failed signal once its gateway beats again', async () => {
    const failing = newWatchdog({
      requestCheck: async () => {
        throw new Error('Temporal unavailable');
      },
    });
    await gatewayBeat('gw-1', now - STALE_MS);
    await addDevice('a', 'gw-1', 'host-1');
    expect(await failing.tick()).toBe(1);
    await gatewayBeat('gw-1');
    expect(await failing.tick()).toBe(0);
  });

  it('moves a provisioning again after a failed rescue, unless the device left provisioning meanwhile', async () => {
    let down = true;
    const rescued: string[] = [];
    const withRescue = newWatchdog({
      requestCheck: async () => undefined,
      rescueProvisioning: async (device, host) => {
        if (down) throw new Error('Temporal unavailable');
        rescued.push(`${device.metadata.name}@${host}:${device.status.phase}`);
      },
    });
    await gatewayBeat('gw-1');
    await hosts.beat({ id: 'host-1', lastSeen: now, pid: 1, devices: 2, restartedAt: 0 });
    await addDevice('stuck', 'gw-1', 'host-1', 'Provisioning');
    await addDevice('done', 'gw-1', 'host-1', 'Pending');
    now += STALE_MS;
    await gatewayBeat('gw-1');
    expect(await withRescue.tick()).toBe(2);
    expect(rescued).toEqual([]);
    // Meanwhile one was connected another way (an operator's Retry): it is left alone.
    await store.updateStatus('Device', 'done', (s) => ({ ...s, phase: 'Connected' }));
    down = false;
    now += 2000;
    await gatewayBeat('gw-1');
    expect(await withRescue.tick()).toBe(1);
    expect(rescued).toEqual(['stuck@host-1:Provisioning']);
    expect(await withRescue.tick()).toBe(0);
  });
});
