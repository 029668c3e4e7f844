/**
 * A rollout's per-device app states (activities/applications.ts) against deletions on a real
 * SQLite store: a device deleted meanwhile is not written back into its Application, an
 * application deleted meanwhile leaves no state on the devices — also when the delete runs
 * between a stop's writes — and deleting a device takes it out of every Application
 * (forgetDeviceInApplications: counts and phase follow).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deviceState } from '../common/application-status.js';
import { NotFoundError } from '../common/errors.js';
import type { ApplicationSpec, ApplicationStatus } from '../common/resources.js';
import { createApplicationActivities, forgetDeviceInApplications } from '../activities/applications.js';
import { FileModuleStore } from '../store/file-module-store.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { storeConnectedDevice } from './support/stored-devices.js';

let dir: string;
let store: SqliteResourceStore;
let activities: ReturnType<typeof createApplicationActivities>;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-app-states-'));
  store = new SqliteResourceStore(openDatabase(path.join(dir, 'wasmbed.db')));
  activities = createApplicationActivities({
    store,
    modules: new FileModuleStore(path.join(dir, 'modules')),
  });
  for (const name of ['d-1', 'd-2', 'd-3']) await storeConnectedDevice(store, name);
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function application(name: string, devices: Record<string, ReturnType<typeof deviceState>>) {
  const status: ApplicationStatus = {
    phase: 'PartiallyRunning',
    devices,
    counts: { targeted: 0, running: 0, failed: 0, pending: 0 },
  };
  await store.create('Application', name, {} as ApplicationSpec, status);
}

describe("a rollout's device states and deletions", () => {
  it('leaves out a device deleted meanwhile, and records the others on both sides', async () => {
    await application('app', {});
    await store.delete('Device', 'd-2');
    await activities.recordAppDeviceStates('app', [
      { device: 'd-1', state: 'Running' },
      { device: 'd-2', state: 'Failed', error: 'deploy failed: no session' },
      { device: 'd-3', state: 'Running' },
    ]);
    const app = (await store.get('Application', 'app'))!;
    expect(Object.keys(app.status.devices).sort()).toEqual(['d-1', 'd-3']);
    expect(app.status.counts).toEqual({ targeted: 2, running: 2, failed: 0, pending: 0 });
    expect((await store.get('Device', 'd-1'))!.status.apps.app).toMatchObject({ state: 'Running' });
  });

  it('gives no device a state of an application deleted meanwhile', async () => {
    await expect(activities.recordAppDeviceState('gone', 'd-1', 'Stopped')).rejects.toThrow(NotFoundError);
    expect((await store.get('Device', 'd-1'))!.status.apps).toEqual({});
  });

  it("a stop that races a delete leaves no device with the deleted application's state", async () => {
    await application('racing', { 'd-1': deviceState('Running'), 'd-2': deviceState('Running') });
    // The stop's write of the Application lands, then the delete runs whole (its passes over the
    // devices and the delete), then the stop writes the devices: the order that left them with
    // a Stopped state of an app that no longer existed.
    let raced = false;
    const racingStore = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop !== 'updateStatus') return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<SqliteResourceStore['updateStatus']>) => {
          const written = await target.updateStatus(...args);
          if (args[0] === 'Application' && !raced) {
            raced = true;
            await activities.forgetApplication('racing');
          }
          return written;
        };
      },
    });
    const stopping = createApplicationActivities({
      store: racingStore,
      modules: new FileModuleStore(path.join(dir, 'modules')),
    });
    await stopping.recordAppDeviceStates('racing', [
      { device: 'd-1', state: 'Stopped' },
      { device: 'd-2', state: 'Stopped' },
    ]);
    expect(raced).toBe(true);
    expect(await store.get('Application', 'racing')).toBeUndefined();
    for (const d of ['d-1', 'd-2']) expect((await store.get('Device', d))!.status.apps).toEqual({});
  });

  it("a stop whose writes all land between the delete's first pass and its delete leaves no state either", async () => {
    await application('racing', { 'd-1': deviceState('Running') });
    // The stop runs whole just before the delete removes the Application: it sees the
    // Application still there, so only the delete's pass after it can take the state back out.
    const racingStore = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop !== 'delete') return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<SqliteResourceStore['delete']>) => {
          await activities.recordAppDeviceState('racing', 'd-1', 'Stopped');
          expect((await target.get('Device', 'd-1'))!.status.apps.racing).toMatchObject({ state: 'Stopped' });
          return target.delete(...args);
        };
      },
    });
    const deleting = createApplicationActivities({
      store: racingStore,
      modules: new FileModuleStore(path.join(dir, 'modules')),
    });
    await deleting.forgetApplication('racing');
    expect(await store.get('Application', 'racing')).toBeUndefined();
    expect((await store.get('Device', 'd-1'))!.status.apps).toEqual({});
  });

  it('forgets an application on every device, then the application; twice is harmless', async () => {
    await application('old', { 'd-1': deviceState('Running'), 'd-3': deviceState('Running') });
    await activities.recordAppDeviceStates('old', [
      { device: 'd-1', state: 'Running' },
      { device: 'd-3', state: 'Running' },
    ]);
    await application('kept', {});
    await activities.recordAppDeviceState('kept', 'd-1', 'Running');
    await activities.forgetApplication('old');
    await activities.forgetApplication('old'); // a retried activity
    expect(await store.get('Application', 'old')).toBeUndefined();
    expect(Object.keys((await store.get('Device', 'd-1'))!.status.apps)).toEqual(['kept']);
    expect((await store.get('Device', 'd-3'))!.status.apps).toEqual({});
  });

  it('takes a deleted device out of every application: counts and phase follow', async () => {
    await application('a', { 'd-1': deviceState('Running'), 'd-2': deviceState('Pending') });
    await application('b', { 'd-2': deviceState('Running'), 'd-3': deviceState('Running') });
    await application('c', { 'd-3': deviceState('Running') });
    await forgetDeviceInApplications(store, 'd-2');
    await forgetDeviceInApplications(store, 'd-2'); // a retried activity
    const a = (await store.get('Application', 'a'))!;
    expect(Object.keys(a.status.devices)).toEqual(['d-1']);
    expect(a.status.counts).toEqual({ targeted: 1, running: 1, failed: 0, pending: 0 });
    expect(a.status.phase).toBe('Running'); // no longer waiting for d-2
    expect(Object.keys((await store.get('Application', 'b'))!.status.devices)).toEqual(['d-3']);
    expect(Object.keys((await store.get('Application', 'c'))!.status.devices)).toEqual(['d-3']);
  });
});
