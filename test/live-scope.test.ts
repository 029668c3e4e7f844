/**
 * Live dashboard views follow the store's change feed in their own scope: with the web app on a
 * real SQLite file and the writes coming from a second store instance on that file (another
 * process, as the gateway's heartbeats are), another device's heartbeat neither re-renders nor
 * pushes anything to a device's page, while a change of that device does, at once; the devices
 * list hears of every device. Real HTTP and server-sent events; no Temporal (rendering these
 * views does not touch it).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceStatus } from '../common/resources.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import type { WebApp } from '../web/app.js';
import { storeOnlyWebApp } from './support/store-only-web-app.js';
import { waitFor } from './support/wait.js';
import { sseEvents } from './support/sse-events.js';

let home: string;
let store: SqliteResourceStore;
let writer: SqliteResourceStore;
let app: WebApp;
let server: http.Server;
let base: string;

const heartbeat = (s: DeviceStatus): DeviceStatus => ({ ...s, lastHeartbeat: new Date().toISOString() });

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-live-scope-'));
  const dbFile = path.join(home, 'wasmbed.db');
  store = new SqliteResourceStore(openDatabase(dbFile));
  writer = new SqliteResourceStore(openDatabase(dbFile)); // "the gateway"
  for (const name of ['dev-a', 'dev-b']) {
    await writer.create(
      'Device',
      name,
      { mcuType: 'Stm32F746gDisco', runtime: 'virtual' },
      { phase: 'Connected', conditions: [], apps: {}, gateway: { name: 'gw', endpoint: '127.0.0.1:1' } },
    );
  }
  // The views under test render from the store only.
  app = storeOnlyWebApp(home, dbFile, store, {
    liveIntervalMs: 50,
    liveMaxIdleMs: 600_000, // no idle re-render: every render here is one a change caused
  });
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  app?.shutdown();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await store?.close();
  await writer?.close();
  fs.rmSync(home, { recursive: true, force: true });
});

/** A live stream, parsed into its events as they come. */
async function openStream(pathname: string) {
  const controller = new AbortController();
  const res = await fetch(`${base}${pathname}`, { signal: controller.signal });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const events: { event: string; data: string }[] = [];
  void (async () => {
    for await (const { event, data } of sseEvents(res)) {
      if (event !== 'comment' && event !== 'retry') events.push({ event, data });
    }
  })();
  return { events, close: () => controller.abort() };
}

describe('live views follow their own scope of the change feed', () => {
  it("a device page is not re-rendered for another device's heartbeat, and is for its own change", async () => {
    const page = await openStream('/ui/stream/device/dev-b');
    await waitFor('the first fragments', () => page.events.some((e) => e.event === 'synced'), 15_000, 20);
    // A stream whose URL names no render of its page starts with the whole view.
    expect(page.events.map((e) => e.event)).toEqual(['swap', 'synced']);
    const renders = app.live.stats.renders;

    for (let i = 0; i < 5; i++) await writer.updateStatus('Device', 'dev-a', heartbeat);
    // Long enough for dozens of feed polls (100 ms) and live ticks (50 ms).
    await new Promise((r) => setTimeout(r, 1500));
    expect(app.live.stats.renders).toBe(renders);
    expect(page.events).toHaveLength(2);

    await writer.updateStatus('Device', 'dev-b', (s) => ({
      ...s,
      phase: 'Unreachable',
      message: 'dev-b stopped answering',
    }));
    await waitFor(
      'dev-b page updated',
      () => page.events.some((e) => e.event === 'swap' && e.data.includes('dev-b stopped answering')),
      15_000,
      20,
    );
    expect(app.live.stats.renders).toBe(renders + 1);
    page.close();
  });

  it('the devices list hears of every device', async () => {
    const list = await openStream('/ui/stream/devices');
    await waitFor('the first fragments', () => list.events.length > 0, 15_000, 20);
    await writer.updateStatus('Device', 'dev-a', (s) => ({ ...s, phase: 'Disconnected' }));
    await waitFor(
      'dev-a row updated',
      () =>
        list.events.some(
          (e) =>
            e.event === 'rows' && e.data.includes('data-device=\\"dev-a\\" data-phase=\\"Disconnected\\"'),
        ),
      15_000,
      20,
    );
    list.close();
  });
});
