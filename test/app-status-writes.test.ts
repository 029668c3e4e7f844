/**
 * App state changes reach the Application gathered (gateway/status-writes.ts): a fleet's
 * changes within the delay become one write per application, the latest state of a device wins,
 * a write under way holds the next back, and flush() writes what is left. Then the gateway's
 * device-event handler on a real SQLite store: 200 devices report, the Application holds every
 * state and was written a handful of times, not 200.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deviceState } from '../common/application-status.js';
import { NotFoundError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import type { AppDeviceState, ApplicationSpec, ApplicationStatus } from '../common/resources.js';
import { coalescedStatusWrites } from '../gateway/status-writes.js';
import { createDeviceEventHandler } from '../gateway/device-events.js';
import type { SessionInfo } from '../gateway/session-registry.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteDeviceLogs } from '../store/sqlite-device-logs.js';
import { DatabaseUnavailableError } from '../store/postgres/pool.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { storeConnectedDevice } from './support/stored-devices.js';
import { waitFor } from './support/wait.js';

const running = deviceState('Running');
const failed = deviceState('Failed', 'trap: unreachable');

function recorder(options: { hold?: boolean } = {}) {
  const writes: { appId: string; states: Record<string, AppDeviceState['state']> }[] = [];
  const releases: (() => void)[] = [];
  const errors: string[] = [];
  const writer = coalescedStatusWrites<AppDeviceState>({
    delayMs: 20,
    write: async (appId, states) => {
      writes.push({ appId, states: Object.fromEntries([...states].map(([d, s]) => [d, s.state])) });
      if (options.hold) await new Promise<void>((resolve) => releases.push(resolve));
      if (appId === 'broken') throw new Error('store down');
    },
    onError: (appId, err) => errors.push(`${appId}: ${String(err)}`),
  });
  return { writer, writes, releases, errors };
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('gathered app state writes', () => {
  it('writes a burst of changes once per application, the latest state of each device winning', async () => {
    const { writer, writes } = recorder();
    for (let i = 0; i < 50; i++) writer.change('blinky', `d-${i}`, deviceState('Deploying'));
    for (let i = 0; i < 50; i++) writer.change('blinky', `d-${i}`, i === 7 ? failed : running);
    writer.change('sensor', 'd-0', running);
    expect(writes).toEqual([]); // nothing before the delay
    await tick(60);
    expect(writes.map((w) => w.appId).sort()).toEqual(['blinky', 'sensor']);
    const blinky = writes.find((w) => w.appId === 'blinky')!.states;
    expect(Object.keys(blinky)).toHaveLength(50);
    expect(blinky['d-7']).toBe('Failed');
    expect(blinky['d-8']).toBe('Running');
  });

  it('holds the next changes of an application back while its write is under way, then writes them', async () => {
    const { writer, writes, releases } = recorder({ hold: true });
    writer.change('blinky', 'd-1', running);
    await tick(60);
    expect(writes).toHaveLength(1);
    writer.change('blinky', 'd-2', running);
    writer.change('blinky', 'd-3', failed);
    await tick(60);
    expect(writes).toHaveLength(1); // the first write has not settled
    releases.shift()!();
    await tick(60);
    expect(writes).toHaveLength(2);
    expect(writes[1]!.states).toEqual({ 'd-2': 'Running', 'd-3': 'Failed' });
    releases.shift()!();
  });

  it('flush() writes what is gathered without waiting for the delay, and reports a failed write', async () => {
    const { writer, writes, errors } = recorder();
    writer.change('broken', 'd-1', running);
    writer.change('blinky', 'd-1', running);
    await writer.flush(Date.now() + 10_000);
    expect(writes.map((w) => w.appId).sort()).toEqual(['blinky', 'broken']);
    expect(errors).toEqual(['broken: Error: store down']);
    // Later changes of the failed application are written again.
    writer.change('broken', 'd-2', running);
    await writer.flush(Date.now() + 10_000);
    expect(writes.filter((w) => w.appId === 'broken')).toHaveLength(2);
  });
});

describe("the gateway's device events on a real store", () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-app-status-'));
  const db = openDatabase(path.join(home, 'wasmbed.db'));
  const store = new SqliteResourceStore(db);
  afterAll(async () => {
    await store.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('records 200 devices’ reports in the Application with a few writes, and each Device at once', async () => {
    const devices = Array.from({ length: 200 }, (_, i) => `dev-${i}`);
    for (const name of devices) await storeConnectedDevice(store, name);
    const status: ApplicationStatus = {
      phase: 'Running',
      devices: Object.fromEntries(devices.map((d) => [d, deviceState('Deploying')])),
      counts: { targeted: 200, running: 0, failed: 0, pending: 200 },
    };
    await store.create('Application', 'blinky', {} as ApplicationSpec, status);
    const versionBefore = Number((await store.get('Application', 'blinky'))!.metadata.resourceVersion);

    const handle = createDeviceEventHandler({
      store,
      logs: new SqliteDeviceLogs(db),
      logger: createLogger('test'),
      appStatusDelayMs: 50,
    });
    for (const device of devices) {
      handle({ device } as SessionInfo, {
        version: 1,
        messageId: 1,
        body: {
          type: 'ApplicationStatus',
          apps: [
            { appId: 'blinky', state: device === 'dev-3' ? 'Failed' : 'Running', error: null, restarts: 0 },
          ],
        },
      });
    }
    await handle.flush(Date.now() + 10_000);
    const app = (await store.get('Application', 'blinky'))!;
    expect(app.status.counts).toEqual({ targeted: 200, running: 199, failed: 1, pending: 0 });
    expect(app.status.phase).toBe('PartiallyRunning');
    // Every Application write moves the store's revision; a write per report would be 200 of them
    // beside the 200 Device writes.
    const deviceWrites = 200;
    const appWrites = Number(app.metadata.resourceVersion) - versionBefore - deviceWrites;
    expect(appWrites).toBeGreaterThanOrEqual(1);
    expect(appWrites).toBeLessThanOrEqual(3);
    expect((await store.get('Device', 'dev-3'))!.status.apps).toMatchObject({ blinky: { state: 'Failed' } });
  });
});

describe('status writes kept through a store outage', () => {
  /** A store that refuses as PostgreSQL down does until `up`, and records what it was given. */
  function outage() {
    const state = { up: false, tries: 0 };
    const written: Record<string, string>[] = [];
    const errors: string[] = [];
    const writer = coalescedStatusWrites<string>({
      delayMs: 0,
      retryMs: { first: 20, max: 40 },
      write: async (name, changes) => {
        state.tries++;
        if (!state.up) throw new DatabaseUnavailableError('PostgreSQL unavailable: ECONNREFUSED');
        if (name === 'deleted') throw new NotFoundError('Device', name);
        written.push({ name, ...Object.fromEntries(changes) });
      },
      onError: (name, err) => errors.push(`${name}: ${String(err)}`),
    });
    return { state, written, errors, writer };
  }

  it('writes a resource once with its latest changes when the store is back, and drops a refused one', async () => {
    const { state, written, errors, writer } = outage();
    writer.change('dev-1', 'session', 'up');
    await tick(10);
    expect(writer.storeUnavailable).toBe(true);
    for (let i = 0; i < 100; i++) writer.change('dev-1', 'app', `state-${i}`);
    writer.change('dev-1', 'session', 'down');
    writer.change('deleted', 'session', 'down');
    await tick(200);
    // While it is down one write is tried at a time, with backoff, not one per change.
    expect(state.tries).toBeLessThan(12);
    expect(writer.pending).toBe(2);
    state.up = true;
    await waitFor('the writes to go through', () => writer.pending === 0, 5_000, 10);
    expect(written).toEqual([{ name: 'dev-1', app: 'state-99', session: 'down' }]);
    expect(errors).toEqual(['deleted: NotFoundError: Device "deleted" not found']);
    expect(writer.storeUnavailable).toBe(false);
  });

  it('keeps the changes made while a write fails over the failed ones', async () => {
    const { state, written, writer } = outage();
    state.up = true;
    writer.change('dev-1', 'session', 'up');
    await waitFor('the first write', () => written.length === 1, 5_000, 10);
    state.up = false;
    writer.change('dev-1', 'session', 'down'); // fails …
    writer.change('dev-1', 'session', 'up'); // … while this newer one waits behind it
    writer.change('dev-1', 'app', 'Running');
    await tick(50);
    state.up = true;
    await waitFor('the writes to go through', () => writer.pending === 0, 5_000, 10);
    expect(written.at(-1)).toEqual({ name: 'dev-1', session: 'up', app: 'Running' });
  });
});
