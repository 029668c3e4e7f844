/**
 * Retry of a Failed device while its failed provisioning run is still closing (services/
 * device-service.ts): the run writes Failed from its last step and closes a moment later, and a
 * Retry in between used to find it "already running", start nothing and leave the device Pending
 * for good (seen in CI: recovery.test.ts). Real Temporal (the CLI's dev server) and a real SQLite
 * store; the provisioning run is a stand-in that fails when the test says
 * (test/fixtures/workflows/closing-provisioning.ts), since only its timing matters here.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '../common/errors.js';
import type { DeviceSpec } from '../common/resources.js';
import { DeviceService } from '../services/device-service.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { openDatabase } from '../store/sqlite.js';
import { findTemporalCli } from '../temporal/cli.js';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes.js';
import { provisionWorkflowId } from '../workflows/contracts/index.js';

const QUEUE = 'device-retry-test';
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let dir: string;
let store: SqliteResourceStore;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: findTemporalCli() },
      searchAttributes: SEARCH_ATTRIBUTES,
    },
  });
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: QUEUE,
    workflowsPath: path.join(import.meta.dirname, 'fixtures', 'workflows', 'closing-provisioning.ts'),
  });
  running = worker.run();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-device-retry-'));
  store = new SqliteResourceStore(openDatabase(path.join(dir, 'wasmbed.db')));
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A Failed device whose failed run is still open, closing after `closeAfterMs`. */
async function failedDeviceWithClosingRun(name: string, closeAfterMs: number) {
  await store.create('Device', name, {} as DeviceSpec, { phase: 'Failed', conditions: [], apps: {} }, {});
  return env.client.workflow.start('provisionDevice', {
    taskQueue: QUEUE,
    workflowId: provisionWorkflowId(name),
    args: [{ closeAfterMs }],
  });
}

describe('Retry of a Failed device', () => {
  it('waits for the failed run to close, then starts a new one', async () => {
    const failing = await failedDeviceWithClosingRun('closing', 1500);
    const devices = new DeviceService(store, env.client, async () => QUEUE);
    await devices.retry('closing');
    const run = await env.client.workflow.getHandle(provisionWorkflowId('closing')).describe();
    expect(run.runId).not.toBe(failing.firstExecutionRunId);
    expect(run.status.name).toBe('RUNNING');
    expect((await store.get('Device', 'closing'))?.status.phase).toBe('Pending');
  }, 60_000);

  it('refuses, and leaves the device Failed, when the run does not close in time', async () => {
    const stuck = await failedDeviceWithClosingRun('stuck', 600_000);
    const devices = new DeviceService(store, env.client, async () => QUEUE, { failedRunCloseWaitMs: 500 });
    const refused = devices.retry('stuck');
    await expect(refused).rejects.toBeInstanceOf(ConflictError);
    await expect(refused).rejects.toThrow(/is Failed but provision-stuck is still running after 500 ms/);
    expect((await store.get('Device', 'stuck'))?.status.phase).toBe('Failed');
    await stuck.terminate('test over');
  }, 60_000);
});

describe('Restart of a Connected device', () => {
  it("starts its steps over: the old run's are not shown as the new run's progress", async () => {
    const done = (['issueCertificate', 'startEmulator'] as const).map((name) => ({
      name,
      state: 'Succeeded' as const,
    }));
    await store.create(
      'Device',
      'running',
      { runtime: 'virtual' } as DeviceSpec,
      { phase: 'Connected', conditions: [], apps: {}, steps: done },
      {},
    );
    const devices = new DeviceService(store, env.client, async () => QUEUE);
    await devices.restart('running');
    const status = (await store.get('Device', 'running'))?.status;
    expect(status?.phase).toBe('Pending');
    expect(status?.steps).toBeUndefined();
    await env.client.workflow.getHandle(provisionWorkflowId('running')).terminate('test over');
  }, 60_000);
});
