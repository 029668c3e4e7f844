/**
 * A rollout's per-device app states (activities/applications.ts) against deletions on a real
 * SQLite store: a device deleted meanwhile is not written back into its Application, an
 * application deleted meanwhile leaves no state on the devices, and deleting a device takes it
 * out of every Application (forgetDeviceInApplications: counts and phase follow).
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
