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
    await platform.hosts.beat({ id, lastSeen: Date.now() - silentMs, pid: 1, devices: 0 });
  const activities = createLifecycleActivities({
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
  return activities.checkDeviceHealth('dev-1');
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
