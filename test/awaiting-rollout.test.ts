/**
 * The devices a rollout has not reached yet, on a real SQLite store with the rollout's own store
 * activities (activities/applications.ts) and the gateway's writes of what devices report: a
 * paused canary's other devices keep the state of the version they run, marked awaitingRollout
 * (they showed Pending, as if they ran nothing), and count as pending; their own reports keep the
 * mark; the rollout reaching one takes it off, and so does the rollout's end. A rollback of an
 * app that had no version leaves no entry where nothing was deployed (it recorded RolledBack
 * there), and so does a stop (it recorded Stopped there). Then how the dashboard and the CLI name such a state (common/app-device-label.ts), and
 * the applications page's count of them in a big target.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApplicationActivities } from '../activities/applications.js';
import { appDeviceStateLabel } from '../common/app-device-label.js';
import { awaitingRollout } from '../common/awaiting-rollout.js';
import { deviceState } from '../common/application-status.js';
import { createLogger } from '../common/logger.js';
import {
  API_VERSION,
  type Application,
  type ApplicationSpec,
  type ApplicationStatus,
} from '../common/resources.js';
import { createDeviceEventHandler } from '../gateway/device-events.js';
import type { SessionInfo } from '../gateway/session-registry.js';
import { FileModuleStore } from '../store/file-module-store.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteDeviceLogs } from '../store/sqlite-device-logs.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { storeConnectedDevice } from './support/stored-devices.js';
import { applicationRows } from '../web/pages/applications.js';
import { deviceFragments } from '../web/pages/device.js';

const DEVICES = ['d-1', 'd-2', 'd-3', 'd-4'];
let dir: string;
let db: ReturnType<typeof openDatabase>;
let store: SqliteResourceStore;
let activities: ReturnType<typeof createApplicationActivities>;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-awaiting-rollout-'));
  db = openDatabase(path.join(dir, 'wasmbed.db'));
  store = new SqliteResourceStore(db);
  activities = createApplicationActivities({
    store,
    modules: new FileModuleStore(path.join(dir, 'modules')),
  });
  for (const name of DEVICES) await storeConnectedDevice(store, name);
  // v1 runs on d-1..d-3 (d-3 restarted it twice); d-4 joined since and has nothing.
  const status: ApplicationStatus = {
    phase: 'Running',
    devices: {
      'd-1': deviceState('Running'),
      'd-2': deviceState('Running'),
      'd-3': deviceState('Running', null, 2),
    },
    counts: { targeted: 3, running: 3, failed: 0, pending: 0 },
  };
  await store.create('Application', 'app', {} as ApplicationSpec, status);
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const entries = async () => (await store.get('Application', 'app'))!.status;

/** What deployApplication records of a Canary of 1 with pauseAfterCanary, up to its pause. */
async function canaryPaused(): Promise<void> {
  await activities.setApplicationPhase('app', 'Deploying', {
    workflowId: 'deploy-app',
    pendingDevices: DEVICES,
  });
  await activities.recordAppDeviceStates('app', [{ device: 'd-1', state: 'Deploying' }]);
  await activities.recordAppDeviceStates('app', [{ device: 'd-1', state: 'Running' }]);
  await activities.setApplicationPhase('app', 'Deploying', {
    message: 'canary healthy; waiting for promote or abort',
    awaitingPromotion: true,
  });
}

describe('a paused canary', () => {
  it('shows its other devices running what they ran, marked as not reached yet, and counts them pending', async () => {
    await canaryPaused();
    const status = await entries();
    expect(status.awaitingPromotion).toBe(true);
    expect(status.devices['d-1']).toMatchObject({ state: 'Running' });
    expect(status.devices['d-1']!.awaitingRollout).toBeUndefined();
    expect(status.devices['d-2']).toMatchObject({ state: 'Running', awaitingRollout: true });
    expect(status.devices['d-3']).toMatchObject({ state: 'Running', restarts: 2, awaitingRollout: true });
    expect(status.devices['d-4']).toMatchObject({ state: 'Pending', awaitingRollout: true });
    // The counts are the rollout's: 1 device runs the new version, 3 wait for it.
    expect(status.counts).toEqual({ targeted: 4, running: 1, failed: 0, pending: 3 });
    // The Devices are not written: each keeps what it reported itself.
    expect((await store.get('Device', 'd-2'))!.status.apps).toEqual({});
  });

  it('keeps the mark on what a device not reached yet reports of the version it runs', async () => {
    await canaryPaused();
    const handle = createDeviceEventHandler({
      store,
      logs: new SqliteDeviceLogs(db),
      logger: createLogger('test'),
      appStatusDelayMs: 10,
    });
    const report = (device: string, state: 'Running' | 'Failed', error: string | null) =>
      handle({ device } as SessionInfo, {
        version: 1,
        messageId: 1,
        body: { type: 'ApplicationStatus', apps: [{ appId: 'app', state, error, restarts: 3 }] },
      });
    report('d-2', 'Failed', 'trap: unreachable');
    report('d-1', 'Running', null);
    await handle.flush(Date.now() + 10_000);
    const status = await entries();
    expect(status.devices['d-2']).toMatchObject({
      state: 'Failed',
      error: 'trap: unreachable',
      restarts: 3,
      awaitingRollout: true,
    });
    expect(status.devices['d-1']!.awaitingRollout).toBeUndefined();
    // v1 failing on d-2 is not a failure of this rollout.
    expect(status.counts).toEqual({ targeted: 4, running: 1, failed: 0, pending: 3 });
  });

  it('takes the mark off a device the rollout reaches, and off every device when it ends', async () => {
    await canaryPaused();
    await activities.setApplicationPhase('app', 'Deploying', { message: 'promoted' });
    await activities.recordAppDeviceStates('app', [{ device: 'd-2', state: 'Deploying' }]);
    let status = await entries();
    expect(status.devices['d-2']).toMatchObject({ state: 'Deploying' });
    expect(status.devices['d-2']!.awaitingRollout).toBeUndefined();
    expect(status.devices['d-3']!.awaitingRollout).toBe(true);
    // A rollback that could not reach d-3 and d-4: they go on with what they had.
    await activities.setApplicationPhase('app', 'RolledBack', { message: 'rolled back' });
    status = await entries();
    for (const device of DEVICES) expect(status.devices[device]!.awaitingRollout).toBeUndefined();
    expect(status.devices['d-3']).toMatchObject({ state: 'Running', restarts: 2 });
    expect(status.devices['d-4']).toMatchObject({ state: 'Pending' });
  });
});

describe('a rollback of an application that had no version before', () => {
  /** A new app (or a stopped one) rolled out as a Canary of 2 to d-1..d-3, d-2 without a session. */
  async function abortedCanary(name: string): Promise<void> {
    const targets = ['d-1', 'd-2', 'd-3'];
    await activities.setApplicationPhase(name, 'Deploying', {
      workflowId: `deploy-${name}`,
      pendingDevices: targets,
    });
    await activities.recordAppDeviceStates(name, [{ device: 'd-2', state: 'Pending' }]); // for its lifecycle
    await activities.recordAppDeviceStates(name, [{ device: 'd-1', state: 'Deploying' }]);
    await activities.recordAppDeviceStates(name, [{ device: 'd-1', state: 'Running' }]);
    await activities.setApplicationPhase(name, 'Deploying', { awaitingPromotion: true });
    // Abort, as deployApplication records it: settleUntouched (the devices it never contacted:
    // d-2 and d-3), then rollBack (d-1, which it stopped), then the phase.
    for (const device of ['d-2', 'd-3']) await activities.recordAppDeviceState(name, device, 'RolledBack');
    await activities.recordAppDeviceState(name, 'd-1', 'RolledBack');
    await activities.setApplicationPhase(name, 'RolledBack', { message: 'rolled back to nothing (stopped)' });
  }

  it('leaves no entry on a device nothing was deployed to: RolledBack read as if it had run it', async () => {
    await store.create('Application', 'fresh', {} as ApplicationSpec, {
      phase: 'Pending',
      devices: {},
      counts: { targeted: 0, running: 0, failed: 0, pending: 0 },
    });
    await abortedCanary('fresh');
    const status = (await store.get('Application', 'fresh'))!.status;
    expect(Object.keys(status.devices)).toEqual(['d-1']);
    expect(status.devices['d-1']).toMatchObject({ state: 'RolledBack' });
    expect(status.counts).toEqual({ targeted: 1, running: 0, failed: 0, pending: 0 });
    expect((await store.get('Device', 'd-1'))!.status.apps.fresh).toMatchObject({ state: 'RolledBack' });
    // d-2's Pending (it had no session) is gone from its Device too; d-3 never had one.
    for (const device of ['d-2', 'd-3']) expect((await store.get('Device', device))!.status.apps).toEqual({});
  });

  it('leaves a device an app was stopped on Stopped', async () => {
    await store.create('Application', 'stopped', {} as ApplicationSpec, {
      phase: 'Stopped',
      devices: Object.fromEntries(DEVICES.slice(0, 3).map((d) => [d, deviceState('Stopped')])),
      counts: { targeted: 3, running: 0, failed: 0, pending: 0 },
    });
    await abortedCanary('stopped');
    const status = (await store.get('Application', 'stopped'))!.status;
    expect(status.devices['d-1']).toMatchObject({ state: 'RolledBack' });
    expect(status.devices['d-3']).toEqual(expect.objectContaining({ state: 'Stopped' }));
    expect(status.devices['d-3']!.awaitingRollout).toBeUndefined();
    // d-2 was left Pending for its lifecycle by the canary wave: what it had was written over.
    expect(status.devices['d-2']).toBeUndefined();
  });
});

describe('a stop during a paused canary', () => {
  /** What undeployApplication with `keep` records: Stopped on every device in the list, then the phase. */
  async function stop(name: string): Promise<void> {
    const listed = Object.keys((await store.get('Application', name))!.status.devices);
    for (const device of listed) await activities.recordAppDeviceState(name, device, 'Stopped');
    await activities.setApplicationPhase(name, 'Stopped', { message: 'stopped by an operator' });
  }

  it('leaves no entry on a device a new app never ran on: Stopped listed it as having the app', async () => {
    await store.create('Application', 'fresh', {} as ApplicationSpec, {
      phase: 'Pending',
      devices: {},
      counts: { targeted: 0, running: 0, failed: 0, pending: 0 },
    });
    // A Canary of 2 to d-1..d-3, d-2 without a session (left Pending for its lifecycle), paused.
    await activities.setApplicationPhase('fresh', 'Deploying', {
      workflowId: 'deploy-fresh',
      pendingDevices: ['d-1', 'd-2', 'd-3'],
    });
    await activities.recordAppDeviceStates('fresh', [{ device: 'd-2', state: 'Pending' }]);
    await activities.recordAppDeviceStates('fresh', [{ device: 'd-1', state: 'Running' }]);
    await activities.setApplicationPhase('fresh', 'Deploying', { awaitingPromotion: true });
    await stop('fresh');
    const status = (await store.get('Application', 'fresh'))!.status;
    expect(status.phase).toBe('Stopped');
    expect(Object.keys(status.devices)).toEqual(['d-1']);
    expect(status.devices['d-1']).toMatchObject({ state: 'Stopped' });
    expect(status.counts).toEqual({ targeted: 1, running: 0, failed: 0, pending: 0 });
    expect((await store.get('Device', 'd-1'))!.status.apps.fresh).toMatchObject({ state: 'Stopped' });
    for (const device of ['d-2', 'd-3']) expect((await store.get('Device', device))!.status.apps).toEqual({});
  });

  it('stops the version a device not reached yet still ran, and records it Stopped', async () => {
    await canaryPaused();
    await stop('app');
    const status = await entries();
    // d-1 ran the canary, d-2 and d-3 the previous version: all stopped. d-4 never ran it.
    expect(Object.keys(status.devices).sort()).toEqual(['d-1', 'd-2', 'd-3']);
    for (const device of ['d-1', 'd-2', 'd-3']) {
      expect(status.devices[device]).toMatchObject({ state: 'Stopped' });
      expect(status.devices[device]!.awaitingRollout).toBeUndefined();
      expect((await store.get('Device', device))!.status.apps.app).toMatchObject({ state: 'Stopped' });
    }
    expect((await store.get('Device', 'd-4'))!.status.apps).toEqual({});
  });
});

describe("an app's state on a device, as the dashboard and the CLI name it", () => {
  const running = deviceState('Running');
  it('says what a device not reached yet runs, and what it waits for', () => {
    expect(appDeviceStateLabel(running, true)).toBe('Running');
    expect(appDeviceStateLabel({ ...running, awaitingRollout: true }, true)).toBe(
      'Running (previous version) · waiting for promotion',
    );
    expect(appDeviceStateLabel({ ...deviceState('Failed'), awaitingRollout: true }, false)).toBe(
      'Failed (previous version) · waiting for its wave',
    );
    expect(appDeviceStateLabel({ ...deviceState('Pending'), awaitingRollout: true }, true)).toBe(
      'Pending · waiting for promotion',
    );
  });
});

describe('the dashboard during a paused canary', () => {
  const ctx = { csrfToken: 't', workflowUrl: (id: string) => `/wf/${id}`, temporalUiUrl: '' };
  const DEVICE_NAMES = Array.from({ length: 30 }, (_, i) => `dev-${i}`);
  const app: Application = {
    apiVersion: API_VERSION,
    kind: 'Application',
    metadata: {
      name: 'big',
      namespace: 'default',
      labels: {},
      uid: 'u',
      generation: 2,
      creationTimestamp: '',
    },
    spec: {
      module: { sha256: 'ab'.repeat(32), size: 10 },
      entry: '_start',
      target: { all: true },
      strategy: {
        type: 'Canary',
        canary: 1,
        maxUnavailable: '25%',
        pauseAfterCanary: true,
        failureThreshold: 0,
      },
      limits: { memoryPages: 1, cpuMsPerCall: null },
      env: {},
      args: [],
    },
    status: {
      phase: 'Deploying',
      awaitingPromotion: true,
      devices: Object.fromEntries(
        DEVICE_NAMES.map((d, i) => [
          d,
          i === 0 ? deviceState('Running') : awaitingRollout(deviceState('Running')),
        ]),
      ),
      counts: { targeted: 30, running: 1, failed: 0, pending: 29 },
    },
  };

  it("counts a big target's devices not reached yet apart from the canary's Running", () => {
    const row = applicationRows(ctx, [app]).value;
    expect(row).toMatch(/data-state-count="Running"\s+data-count="1"/);
    expect(row).toMatch(
      /data-state-count="awaitingRollout"\s+data-count="29"[^>]*>\s*29 waiting for promotion/,
    );
  });

  it("names on a device's page what it still runs", async () => {
    await storeConnectedDevice(store, 'dev-5');
    const device = (await store.get('Device', 'dev-5'))!;
    expect(deviceFragments(ctx, device, undefined, [app]).apps).toContain(
      'Running (previous version) · waiting for promotion',
    );
  });
});
