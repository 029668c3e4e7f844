/**
 * The device hosts in the platform's health (web/health.ts; `wasmbed status`, the overview page,
 * GET /api/v1/health): each host's heartbeat read from a real SQLite host registry. The live
 * platform's host row, with its task queue's pollers, is checked in test/cli.test.ts and
 * test/dashboard.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteHostRegistry } from '../store/host-registry.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { openDatabase, type SqliteDatabase } from '../store/sqlite.js';
import { HealthMonitor } from '../web/health.js';

let dir: string;
let db: SqliteDatabase;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-health-'));
  db = openDatabase(path.join(dir, 'wasmbed.db'));
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('device hosts in the health snapshot', () => {
  it('a beating host is ok, a silent one degraded, one silent beyond the grace period down', async () => {
    const hosts = new SqliteHostRegistry(db);
    const now = Date.now();
    await hosts.beat({ id: 'edge-1', lastSeen: now, pid: 101, devices: 500, restartedAt: 0 });
    await hosts.beat({ id: 'edge-2', lastSeen: now - 20_000, pid: 102, devices: 300, restartedAt: 0 });
    await hosts.beat({ id: 'edge-3', lastSeen: now - 90_000, pid: 103, devices: 200, restartedAt: 0 });
    await hosts.beat({ id: 'edge-4', lastSeen: now, pid: 104, devices: 12, restartedAt: now - 5_000 });
    const monitor = new HealthMonitor({
      store: new SqliteResourceStore(db),
      hosts,
      hostGraceMs: 60_000,
      gatewayHealthUrl: () => undefined,
    });

    const rows = (await monitor.refresh()).processes.filter((p) => p.kind === 'host');
    expect(rows.map((p) => [p.name, p.status, p.detail, p.metrics?.devices])).toEqual([
      ['edge-1', 'ok', '500 devices, pid 101', 500],
      ['edge-2', 'degraded', '300 devices, pid 102; silent for 20 s: new devices go elsewhere', 300],
      ['edge-3', 'down', '200 devices, pid 103; silent for 90 s: its devices move to live hosts', 200],
      ['edge-4', 'ok', '12 devices, pid 104; restarted 5 s ago', 12],
    ]);
  });
});
