/**
 * kill -9 the orchestrator worker in the middle of provisioning and start a new one: the
 * workflow finishes with exactly one device process and one certificate for the device.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { paths } from '../common/config.js';
import type { Device } from '../common/resources.js';
import { SqliteCertificateRepository } from '../pki/index.js';
import { openDatabase } from '../store/sqlite.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform?.stop();
});

const device = async (name: string) => (await platform.api('GET', `/api/v1/devices/${name}`)).body as Device;

it('finishes provisioning after the worker is killed with SIGKILL mid-way', async () => {
  // Hold the gateway back so the workflow is certainly mid-way (waiting to assign a gateway)
  // when the worker dies, after the certificate and the device process already exist.
  const gateway = platform.processes.get('gateway')!;
  gateway.kill('SIGKILL');
  await new Promise((resolve) => gateway.once('exit', resolve));

  expect((await platform.api('POST', '/api/v1/devices', { name: 'crash-1' })).status).toBe(202);
  await waitFor('startEmulator to succeed', async () => {
    const steps = (await device('crash-1')).status.steps ?? [];
    return steps.find((s) => s.name === 'startEmulator')?.state === 'Succeeded';
  });
  expect(platform.deviceProcesses('crash-1')).toHaveLength(1);

  const worker = platform.processes.get('orchestrator')!;
  worker.kill('SIGKILL');
  await new Promise((resolve) => worker.once('exit', resolve));

  await platform.start('orchestrator');
  await platform.start('gateway');

  await waitFor(
    'crash-1 Connected',
    async () => {
      const d = await device('crash-1');
      if (d.status.phase === 'Failed') throw new Error(d.status.message);
      return d.status.phase === 'Connected';
    },
    90_000,
  );
  await platform.client.workflow.getHandle('provision-crash-1').result();

  expect(platform.deviceProcesses('crash-1')).toHaveLength(1);
  const db = openDatabase(paths.db(platform.home));
  try {
    const repo = new SqliteCertificateRepository(db);
    expect(await repo.listForDevice('crash-1')).toHaveLength(1);
    expect(await repo.countActive('crash-1')).toBe(1);
  } finally {
    db.close();
  }
});
