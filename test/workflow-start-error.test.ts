/**
 * When Temporal does not start a workflow, the API says why and which kind it is, against a real
 * Temporal dev server. The client's ServiceError reads only "Failed to start Workflow"; the reason
 * is its cause — a Temporal without Wasmbed's search attributes answered every device create
 * with "could not start workflow: ServiceError: Failed to start Workflow" while `wasmbed status`
 * showed Temporal reachable, and with a 503 that said "try again" to a refusal that no retry
 * would change. Refused (Temporal up, its namespace without the attributes) is TemporalRefused,
 * HTTP 500; unreachable is TemporalUnavailable, HTTP 503. Nothing is left of the device either way.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DeviceService } from '../services/device-service.js';
import { DeviceBatchService } from '../services/device-batch-service.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import type { DevServer } from '../temporal/dev-server.js';
import { statusOf } from '../web/http-errors.js';
import { startOwnDevServer } from './support/dev-server.js';
import { freePort } from './support/ports.js';
import { waitFor } from './support/wait.js';

/** A namespace of the same server, registered without Wasmbed's search attributes. */
const BARE_NAMESPACE = 'no-wasmbed-attributes';
let home: string;
let temporal: DevServer;
let connection: Connection;
let store: SqliteResourceStore;

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-start-error-'));
  store = new SqliteResourceStore(openDatabase(path.join(home, 'wasmbed.db')));
  temporal = await startOwnDevServer(home);
  connection = await Connection.connect({ address: temporal.address });
  await connection.workflowService.registerNamespace({
    namespace: BARE_NAMESPACE,
    workflowExecutionRetentionPeriod: msToTs('1 day'),
  });
  await waitFor('the namespace registered', () =>
    connection.workflowService.describeNamespace({ namespace: BARE_NAMESPACE }).then(() => true),
  );
}, 120_000);
afterAll(async () => {
  await connection?.close();
  await temporal?.stop();
  await store?.close();
  fs.rmSync(home, { recursive: true, force: true });
});

it('a refusal names the server’s reason, is TemporalRefused (500) and keeps nothing', async () => {
  const devices = new DeviceService(store, new Client({ connection, namespace: BARE_NAMESPACE }));
  const created = devices.create({ name: 'dev-1' });
  await expect(created).rejects.toMatchObject({ code: 'TemporalRefused' });
  const err = await devices.create({ name: 'dev-2' }).catch((e: unknown) => e);
  // (The server names the first attribute it misses, whichever of Wasmbed's that is.)
  expect(String(err)).toMatch(/Failed to start Workflow.*no mapping defined for search attribute Wasmbed\w+/);
  expect(String(err)).toMatch(/Temporal is up and refused it/);
  expect(statusOf(err)).toBe(500);
  expect(await store.get('Device', 'dev-1')).toBeUndefined();

  // A batch none of whose devices started says the same, not "unavailable".
  const batch = new DeviceBatchService(store, devices);
  const none = await batch.create({ count: 3, prefix: 'b' }).catch((e: unknown) => e);
  expect(none).toMatchObject({ code: 'TemporalRefused' });
  expect(String(none)).toMatch(/no device of batch .* could start: .*no mapping defined/);
  expect((await store.listPage('Device', {})).items).toEqual([]);
}, 60_000);

it('an unreachable Temporal is TemporalUnavailable (503: try again)', async () => {
  const nowhere = await Connection.connect({
    address: `127.0.0.1:${await freePort()}`,
    connectTimeout: 500,
  }).catch(() => undefined);
  // (The connect itself fails against a closed port; a lazy connection fails at the start.)
  const lazy = nowhere ?? Connection.lazy({ address: `127.0.0.1:${await freePort()}` });
  const devices = new DeviceService(store, new Client({ connection: lazy }));
  const err = await devices.create({ name: 'dev-3' }).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'TemporalUnavailable' });
  expect(statusOf(err)).toBe(503);
  expect(await store.get('Device', 'dev-3')).toBeUndefined();
  await lazy.close();
}, 60_000);
