/**
 * Updates (`PUT /api/v1/applications/NAME`, `wasmbed app update`) from an unusual starting point.
 * The spec the Application already has — the version that just rolled back, tried again; an app
 * started again after a stop; the same command sent twice while a canary waits: the store keeps
 * the generation, so the rollout claim of that generation is the last run's, and the update must
 * neither start nothing (the Application was left Pending for good when it came within the
 * claim's 10 s lease) nor reset the status of a rollout still running (a waiting canary showed
 * Pending, its message gone). A change of strategy only: an aborted canary puts the version back
 * (the same version as the spec's was taken for none, and the app was stopped on the canary). A
 * stopped app: a failing new version goes back to stopped, not to the version it ran before the
 * stop. Real platform, real Temporal, two virtual devices.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Application, Device } from '../common/resources.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { deployWorkflowId } from '../workflows/contracts/index.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;
const DEVICES = ['same-1', 'same-2'];
const wasm = (name: string) => fs.readFileSync(path.join(DIST_DIR, `${name}.wasm`)).toString('base64');
const SETTLED = ['Running', 'PartiallyRunning', 'Failed', 'RolledBack', 'Stopped'];

beforeAll(async () => {
  await buildApps({ log: () => {} });
  platform = await startTestPlatform();
  for (const name of DEVICES) {
    expect((await platform.api('POST', '/api/v1/devices', { name })).status).toBe(202);
  }
  for (const name of DEVICES) {
    await waitFor(`${name} Connected`, async () => {
      const d = (await platform.api('GET', `/api/v1/devices/${name}`)).body as Device;
      return d.status?.phase === 'Connected';
    });
  }
});
afterAll(async () => {
  await platform?.stop();
});

async function app(name: string): Promise<Application> {
  return (await platform.api('GET', `/api/v1/applications/${name}`)).body as Application;
}

/** The deploy run's id: a new one means the update started a rollout. */
async function runId(name: string): Promise<string> {
  return (await platform.client.workflow.getHandle(deployWorkflowId(name)).describe()).runId;
}

/** The Application once a run other than `before` has settled it. */
async function settledByNewRun(name: string, before: string): Promise<Application> {
  return waitFor(
    `${name} settled by a new rollout`,
    async () => {
      if ((await runId(name)) === before) return undefined;
      const a = await app(name);
      return SETTLED.includes(a.status.phase) ? a : undefined;
    },
    30_000,
  );
}

async function put(name: string, body: object): Promise<void> {
  const res = await platform.api('PUT', `/api/v1/applications/${name}`, { name, ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}

describe('an update to the spec the Application has', () => {
  it('leaves a canary that waits for promotion as it is; the promote then finishes it', async () => {
    const v1 = { wasm: wasm('blinky'), target: { devices: DEVICES } };
    expect((await platform.api('POST', '/api/v1/applications', { name: 'wait', ...v1 })).status).toBe(202);
    await waitFor('wait Running', async () => (await app('wait')).status.phase === 'Running');
    const v2 = {
      ...v1,
      env: { PERIOD_MS: '300' },
      strategy: { type: 'Canary', canary: 1, pauseAfterCanary: true },
    };
    await put('wait', v2);
    const waiting = await waitFor('the canary waiting', async () => {
      const a = await app('wait');
      return a.status.awaitingPromotion ? a : undefined;
    });
    const run = await runId('wait');

    await put('wait', v2); // the same command again

    const after = await app('wait');
    expect(after.status.phase).toBe('Deploying');
    expect(after.status.message).toBe(waiting.status.message);
    expect(after.status.awaitingPromotion).toBe(true);
    expect(await runId('wait')).toBe(run);
    expect((await platform.api('POST', '/api/v1/applications/wait/promote')).status).toBe(202);
    await waitFor(
      'wait Running after the promote',
      async () => (await app('wait')).status.phase === 'Running',
    );
  });

  it('rolls the version that just rolled back out again, instead of leaving the Application Pending', async () => {
    const good = { wasm: wasm('blinky'), target: { devices: DEVICES } };
    expect((await platform.api('POST', '/api/v1/applications', { name: 'retry', ...good })).status).toBe(202);
    await waitFor('retry Running', async () => (await app('retry')).status.phase === 'Running');
    const trapping = {
      wasm: wasm('faulty'),
      entry: 'trap',
      target: { devices: DEVICES },
      strategy: { type: 'Rolling', failureThreshold: 0 },
    };
    const first = await runId('retry');
    await put('retry', trapping);
    expect((await settledByNewRun('retry', first)).status.phase).toBe('RolledBack');
    const second = await runId('retry');

    // At once, as an operator retries it: within the lease of the claim the last run took.
    await put('retry', trapping);

    const again = await settledByNewRun('retry', second);
    expect(again.status.phase).toBe('RolledBack');
    expect(again.status.message).toMatch(/rolled back to the previous version/);
  });

  it('starts a stopped app again', async () => {
    const spec = { wasm: wasm('blinky'), target: { devices: ['same-1'] } };
    expect((await platform.api('POST', '/api/v1/applications', { name: 'restart', ...spec })).status).toBe(
      202,
    );
    await waitFor('restart Running', async () => (await app('restart')).status.phase === 'Running');
    expect((await platform.api('POST', '/api/v1/applications/restart/stop')).status).toBe(202);
    await waitFor('restart Stopped', async () => (await app('restart')).status.phase === 'Stopped');
    const before = await runId('restart');

    await put('restart', spec);

    expect((await settledByNewRun('restart', before)).status.phase).toBe('Running');
    const d = (await platform.api('GET', '/api/v1/devices/same-1')).body as Device;
    expect((d.status.apps.restart as { state?: string } | undefined)?.state).toBe('Running');
  });
});

describe('an update that changes only how it rolls out', () => {
  it('aborted, puts back the version the devices ran instead of stopping the app on the canary', async () => {
    const v1 = { wasm: wasm('blinky'), target: { devices: DEVICES } };
    expect((await platform.api('POST', '/api/v1/applications', { name: 'steady', ...v1 })).status).toBe(202);
    const running = await waitFor('steady Running', async () => {
      const a = await app('steady');
      return a.status.phase === 'Running' ? a : undefined;
    });
    const before = await runId('steady');

    // The same version, as a Canary: its previous version is the one it deploys again.
    await put('steady', { ...v1, strategy: { type: 'Canary', canary: 1, pauseAfterCanary: true } });
    await waitFor('the canary waiting', async () => (await app('steady')).status.awaitingPromotion);
    expect((await platform.api('POST', '/api/v1/applications/steady/abort')).status).toBe(202);

    const a = await settledByNewRun('steady', before);
    expect(a.status.phase).toBe('RolledBack');
    // It was taken for a new app: "rolled back to nothing (stopped)", the canary's app stopped.
    expect(a.status.message).toMatch(/rolled back to the previous version/);
    expect(a.status.currentModule).toEqual(running.status.currentModule);
    for (const name of DEVICES) {
      await waitFor(`${name} runs steady`, async () => {
        const d = (await platform.api('GET', `/api/v1/devices/${name}`)).body as Device;
        return (d.status.apps.steady as { state?: string } | undefined)?.state === 'Running';
      });
    }
  });
});

describe('an update of a stopped app', () => {
  it('that fails goes back to stopped, not to the version that ran before the stop', async () => {
    const spec = { wasm: wasm('blinky'), target: { devices: DEVICES } };
    expect((await platform.api('POST', '/api/v1/applications', { name: 'halt', ...spec })).status).toBe(202);
    await waitFor('halt Running', async () => (await app('halt')).status.phase === 'Running');
    expect((await platform.api('POST', '/api/v1/applications/halt/stop')).status).toBe(202);
    await waitFor('halt Stopped', async () => (await app('halt')).status.phase === 'Stopped');
    const before = await runId('halt');

    await put('halt', { wasm: wasm('faulty'), entry: 'trap', target: { devices: DEVICES } });

    const a = await settledByNewRun('halt', before);
    expect(a.status.phase).toBe('RolledBack');
    expect(a.status.message).toMatch(/rolled back to nothing \(stopped\)/);
    expect(a.status.currentModule).toBeUndefined();
    for (const name of DEVICES) {
      const d = (await platform.api('GET', `/api/v1/devices/${name}`)).body as Device;
      expect((d.status.apps.halt as { state?: string } | undefined)?.state, name).not.toBe('Running');
    }
  });
});
