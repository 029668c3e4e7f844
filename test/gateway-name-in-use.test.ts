/**
 * Two gateways under one name (a second machine on the shared database left on the default
 * WASMBED_GATEWAY_NAME) overwrote each other's Gateway record and shared a task queue. A gateway
 * now refuses to start while another one keeps registering its name, and starts once the record
 * stops moving (its earlier self, killed) or says it stopped.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { GatewaySpec, GatewayStatus } from '../common/resources.js';
import { assertGatewayNameFree } from '../gateway/name-in-use.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';

const REPORT_MS = 100;
let dir: string;
let store: SqliteResourceStore;
let twin: NodeJS.Timeout | undefined;

const spec: GatewaySpec = {
  endpoint: '10.0.0.1:8081',
  maxDevices: 10_000,
  heartbeatIntervalSeconds: 5,
  heartbeatTimeoutSeconds: 15,
};
const register = (phase: GatewayStatus['phase'] = 'Ready') =>
  store.upsert('Gateway', 'gateway-0', spec, {
    phase,
    connectedDevices: 3,
    conditions: [],
    lastSeen: new Date().toISOString(),
    taskQueue: 'wasmbed-gateway-gateway-0',
    healthEndpoint: '10.0.0.1:8080',
  });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-gateway-name-'));
  store = new SqliteResourceStore(openDatabase(path.join(dir, 'wasmbed.db')));
});
afterEach(async () => {
  clearInterval(twin);
  twin = undefined;
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('refuses a name another live gateway keeps registering, naming where that one is', async () => {
  await register();
  twin = setInterval(() => void register(), REPORT_MS);
  const started = assertGatewayNameFree(store, 'gateway-0', { reportIntervalMs: REPORT_MS });
  await expect(started).rejects.toMatchObject({ code: 'GatewayNameInUse' });
  await expect(started).rejects.toThrow(/10\.0\.0\.1:8081.*WASMBED_GATEWAY_NAME/);
});

it('takes the name of a gateway that stopped registering (killed), after two report intervals', async () => {
  await register();
  const t0 = Date.now();
  await assertGatewayNameFree(store, 'gateway-0', { reportIntervalMs: REPORT_MS });
  expect(Date.now() - t0).toBeGreaterThanOrEqual(2 * REPORT_MS);
});

it('takes a free name, or one whose gateway said it stopped, at once', async () => {
  await expect(
    assertGatewayNameFree(store, 'gateway-1', { reportIntervalMs: 60_000 }),
  ).resolves.toBeUndefined();
  await register('Unavailable');
  await expect(
    assertGatewayNameFree(store, 'gateway-0', { reportIntervalMs: 60_000 }),
  ).resolves.toBeUndefined();
});
