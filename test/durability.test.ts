/**
 * Nothing is lost or duplicated when the orchestrator worker is killed with SIGKILL or the
 * (file-backed) Temporal dev server restarts in the middle of provisioning or a rollout.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../common/config.js';
import type { Application, Device } from '../common/resources.js';
import { SqliteCertificateRepository } from '../pki/index.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { openDatabase } from '../store/sqlite.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;

beforeAll(async () => {
  await buildApps({ log: () => {} });
  platform = await startTestPlatform({ durableTemporal: true });
});
afterAll(async () => {
  await platform?.stop();
});

const device = async (name: string) => (await platform.api('GET', `/api/v1/devices/${name}`)).body as Device;
const application = async (name: string) =>
  (await platform.api('GET', `/api/v1/applications/${name}`)).body as Application;
const wasm = (name: string) => fs.readFileSync(path.join(DIST_DIR, `${name}.wasm`)).toString('base64');

async function connected(name: string): Promise<void> {
  await waitFor(
    `${name} Connected`,
    async () => {
      const d = await device(name);
      if (d.status?.phase === 'Failed') throw new Error(d.status.message);
      return d.status?.phase === 'Connected';
    },
    120_000,
  );
}

async function certificateCount(name: string): Promise<{ all: number; active: number }> {
  const db = openDatabase(paths.db(platform.home));
  try {
    const repo = new SqliteCertificateRepository(db);
    return { all: (await repo.listForDevice(name)).length, active: await repo.countActive(name) };
  } finally {
    db.close();
  }
}

async function killWorker(): Promise<void> {
  const worker = platform.processes.get('orchestrator')!;
  worker.kill('SIGKILL');
  await new Promise((resolve) => worker.once('exit', resolve));
}

async function rolloutDone(name: string): Promise<Application> {
  return waitFor(
    `${name} rollout done`,
    async () => {
      const a = await application(name);
      return ['Running', 'PartiallyRunning', 'RolledBack', 'Failed'].includes(a.status?.phase)
        ? a
        : undefined;
    },
    180_000,
  );
}

describe('durability', () => {
  it('finishes provisioning across a Temporal dev server restart', async () => {
    expect(
      (await platform.api('POST', '/api/v1/devices', { name: 'tr-1', labels: { fleet: 'd' } })).status,
    ).toBe(202);
    await waitFor('startEmulator done', async () =>
      (await device('tr-1')).status.steps?.some((s) => s.name === 'startEmulator' && s.state === 'Succeeded'),
    );
    await platform.restartTemporal();
    await connected('tr-1');
    expect(platform.deviceProcesses('tr-1')).toHaveLength(1);
    expect(await certificateCount('tr-1')).toEqual({ all: 1, active: 1 });
  });

  it('finishes a rollout after the worker is killed with SIGKILL mid-way', async () => {
    for (const name of ['tr-2', 'tr-3']) {
      expect((await platform.api('POST', '/api/v1/devices', { name, labels: { fleet: 'd' } })).status).toBe(
        202,
      );
    }
    await connected('tr-2');
    await connected('tr-3');
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'durable-blinky',
      module: wasm('blinky'),
      target: { selector: { fleet: 'd' } },
      strategy: { type: 'Rolling', maxUnavailable: 1 },
    });
    expect(res.status).toBe(202);
    await waitFor('first device running', async () =>
      Object.values((await application('durable-blinky')).status.devices ?? {}).some(
        (d) => d.state === 'Running',
      ),
    );
    await killWorker();
    await platform.start('orchestrator');
    const app = await rolloutDone('durable-blinky');
    expect(app.status.phase).toBe('Running');
    expect(app.status.counts.running).toBe(3);
    for (const name of ['tr-1', 'tr-2', 'tr-3']) {
      expect(platform.deviceProcesses(name)).toHaveLength(1);
      expect(await certificateCount(name)).toEqual({ all: 1, active: 1 });
    }
  });

  it('finishes a rollout across a Temporal dev server restart', async () => {
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'durable-sensor',
      module: wasm('sensor'),
      target: { selector: { fleet: 'd' } },
      strategy: { type: 'Rolling', maxUnavailable: 1 },
      env: { INTERVAL_MS: '500' },
    });
    expect(res.status).toBe(202);
    await waitFor('first device running', async () =>
      Object.values((await application('durable-sensor')).status.devices ?? {}).some(
        (d) => d.state === 'Running',
      ),
    );
    await platform.restartTemporal();
    const app = await rolloutDone('durable-sensor');
    expect(app.status.phase).toBe('Running');
    expect(app.status.counts.running).toBe(3);
    for (const name of ['tr-1', 'tr-2', 'tr-3']) expect(platform.deviceProcesses(name)).toHaveLength(1);
  });
});
