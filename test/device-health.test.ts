/**
 * The lifecycle's health check (activities/lifecycle.ts) on a real SQLite store and host
 * registry: a Connected device whose device host died (silent beyond the grace period) needs
 * recovery when another host is live to take it — its emulator may outlive the host (a docker
 * container) and keep it Connected, but nothing could restart, rotate or stop it any more — and
 * stays while its host may still come back or no host could take it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { createLifecycleActivities } from '../activities/lifecycle.js';
import { openPlatform, type PlatformContext } from '../platform/context.js';

const GRACE_MS = 30_000;
const STALE_MS = 10_000;
let home: string;
let platform: PlatformContext;

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-health-'));
  platform = await openPlatform(loadConfig({ WASMBED_HOME: home }));
  const now = new Date().toISOString();
  await platform.store.upsert(
    'Gateway',
    'gw',
    { endpoint: '127.0.0.1:1', maxDevices: 10, heartbeatIntervalSeconds: 5, heartbeatTimeoutSeconds: 15 },
    { phase: 'Ready', connectedDevices: 1, conditions: [], lastSeen: now },
  );
  await platform.store.create(
    'Device',
    'dev-1',
    { mcuType: 'Stm32F746gDisco', runtime: 'docker' },
    {
      phase: 'Connected',
      conditions: [],
      apps: {},
      host: 'host-a',
      gateway: { name: 'gw', endpoint: '127.0.0.1:1' },
      lastHeartbeat: now,
    },
  );
});
afterAll(async () => {
  await platform?.close();
  fs.rmSync(home, { recursive: true, force: true });
});

/** Fresh activities per case: the host list they read is kept for a second. */
async function healthWith(hosts: Record<string, number>) {
  for (const [id, silentMs] of Object.entries(hosts))
    await platform.hosts.beat({ id, lastSeen: Date.now() - silentMs, pid: 1, devices: 0, restartedAt: 0 });
  return activities().checkDeviceHealth('dev-1');
}

function activities() {
  return createLifecycleActivities({
    store: platform.store,
    certificates: platform.certificates,
    logger: createLogger('test'),
    gatewayStaleMs: 60_000,
    heartbeatLostMs: 60_000,
    renewBeforeMs: 0,
    hosts: platform.hosts,
    hostStaleMs: STALE_MS,
    hostGraceMs: GRACE_MS,
  });
}

describe('device health and its host', () => {
  it('is healthy while its host beats', async () => {
    expect(await healthWith({ 'host-a': 0, 'host-b': 0 })).toMatchObject({ needsRecovery: false });
  });

  it('stays while its host is silent for less than the grace period (a restart resumes it)', async () => {
    expect(await healthWith({ 'host-a': GRACE_MS / 2, 'host-b': 0 })).toMatchObject({ needsRecovery: false });
  });

  it('needs recovery once its host is silent beyond the grace period and another host is live', async () => {
    expect(await healthWith({ 'host-a': GRACE_MS + 5000, 'host-b': 0 })).toMatchObject({
      needsRecovery: true,
      reason: 'device host host-a is gone',
    });
  });

  it('stays when no host is live to take it', async () => {
    expect(await healthWith({ 'host-a': GRACE_MS + 5000, 'host-b': STALE_MS + 5000 })).toMatchObject({
      needsRecovery: false,
    });
  });
});

describe('how long a device that lost its session is left to its host (hostRestartWaitMs)', () => {
  /** The wait for dev-1 (on host-a) when host-a last beat `silentMs` ago and restarted with devices `restartedMsAgo` ago. */
  async function waitWith(silentMs: number, restartedMsAgo: number | null) {
    const now = Date.now();
    await platform.hosts.beat({
      id: 'host-a',
      lastSeen: now - silentMs,
      pid: 2,
      devices: 1,
      restartedAt: restartedMsAgo === null ? 0 : now - restartedMsAgo,
    });
    return activities().hostRestartWaitMs('dev-1');
  }

  it('is the rest of the grace period after a host restarted (it is resuming its devices)', async () => {
    const wait = await waitWith(0, 4000);
    expect(wait).toBeGreaterThan(GRACE_MS - 4000 - 1000);
    expect(wait).toBeLessThanOrEqual(GRACE_MS - 4000);
  });

  it('is nothing once the restarted host has been up for its grace period, or for a host that started empty', async () => {
    expect(await waitWith(0, GRACE_MS + 1000)).toBe(0);
    expect(await waitWith(0, null)).toBe(0);
  });

  it('lasts until the grace period of a silent host ends (then placement can move the device)', async () => {
    const wait = await waitWith(STALE_MS + 2000, 60_000);
    expect(wait).toBeGreaterThan(GRACE_MS - STALE_MS - 2000 - 1000);
    expect(wait).toBeLessThanOrEqual(GRACE_MS - STALE_MS - 2000);
    expect(await waitWith(GRACE_MS + 1000, 60_000)).toBe(0);
  });

  it('is nothing for a device with no host, or a host that never beat', async () => {
    await platform.store.create(
      'Device',
      'dev-nohost',
      { mcuType: 'Stm32F746gDisco', runtime: 'virtual' },
      { phase: 'Connected', conditions: [], apps: {} },
    );
    expect(await activities().hostRestartWaitMs('dev-nohost')).toBe(0);
    await platform.store.updateStatus('Device', 'dev-nohost', (s) => ({ ...s, host: 'host-never' }));
    expect(await activities().hostRestartWaitMs('dev-nohost')).toBe(0);
    expect(await activities().hostRestartWaitMs('no-such-device')).toBe(0);
  });
});
