/**
 * Certificate rotation before expiry, without disturbing the device's apps: certificates
 * here live 35 s and are renewed in their last 17 s, so the lifecycle rotates them on its
 * own — on a timer set for the renewal time, the safety-net check being 10 minutes away —
 * while an app keeps running in the same device process.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
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
  platform = await startTestPlatform({
    env: {
      WASMBED_CERT_VALIDITY_DAYS: String(35 / 86400),
      WASMBED_CERT_RENEW_BEFORE_DAYS: String(17 / 86400),
      WASMBED_LIFECYCLE_CHECK_MS: '600000', // never within a test: signals and due times drive the lifecycle
      WASMBED_LIFECYCLE_GRACE_MS: '3000',
    },
  });
});
afterAll(async () => {
  await platform?.stop();
});

const device = async (name: string) => (await platform.api('GET', `/api/v1/devices/${name}`)).body as Device;

it('rotates a certificate before it expires while the device keeps its apps running', async () => {
  expect((await platform.api('POST', '/api/v1/devices', { name: 'rota' })).status).toBe(202);
  const first = await waitFor('rota Connected', async () => {
    const d = await device('rota');
    return d.status.phase === 'Connected' ? d : undefined;
  });
  const res = await platform.api('POST', '/api/v1/applications', {
    name: 'rota-blinky',
    module: fs.readFileSync(path.join(DIST_DIR, 'blinky.wasm')).toString('base64'),
    target: { devices: ['rota'] },
  });
  expect(res.status).toBe(202);
  await waitFor('blinky Running', async () => {
    const a = (await platform.api('GET', '/api/v1/applications/rota-blinky')).body as Application;
    return a.status.phase === 'Running';
  });
  const [pid] = platform.deviceProcesses('rota');
  const oldSerial = first.status.identity!.certSerial;

  const rotated = await waitFor(
    'a new certificate in use',
    async () => {
      const d = await device('rota');
      const held = (
        (await (await fetch(`${platform.gatewayHealthUrl}/healthz`)).json()) as { devices: string[] }
      ).devices;
      return d.status.identity?.certSerial !== oldSerial &&
        d.status.phase === 'Connected' &&
        held.includes('rota')
        ? d
        : undefined;
    },
    60_000,
  );
  expect(Date.parse(rotated.status.identity!.notAfter)).toBeGreaterThan(
    Date.parse(first.status.identity!.notAfter),
  );

  // The session the gateway holds is the new certificate's; the old one is revoked.
  const db = openDatabase(paths.db(platform.home));
  try {
    const repo = new SqliteCertificateRepository(db);
    expect(await repo.isRevoked(oldSerial)).toBe(true);
    expect(await repo.countActive('rota')).toBe(1);
  } finally {
    db.close();
  }
  // Same device process: the app was never restarted.
  expect(platform.deviceProcesses('rota')).toEqual([pid]);
  expect(((await device('rota')).status.apps['rota-blinky'] as { state: string }).state).toBe('Running');
});
