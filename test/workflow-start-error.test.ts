/**
 * When Temporal refuses a workflow start, the API says why. The client's ServiceError reads only
 * "Failed to start Workflow"; the reason is its cause — a Temporal without Wasmbed's search
 * attributes answered every device create with "could not start workflow: ServiceError: Failed
 * to start Workflow" while `wasmbed status` showed Temporal reachable.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ServiceError, type Client } from '@temporalio/client';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { DeviceService } from '../services/device-service.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';

const REASON =
  '3 INVALID_ARGUMENT: Namespace default has no mapping defined for search attribute WasmbedDevice';
let home: string;
let store: SqliteResourceStore;

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-start-error-'));
  store = new SqliteResourceStore(openDatabase(path.join(home, 'wasmbed.db')));
});
afterEach(async () => {
  await store.close();
  fs.rmSync(home, { recursive: true, force: true });
});

it('a refused device create names the server’s reason', async () => {
  const refusing = {
    workflow: {
      start: () => Promise.reject(new ServiceError('Failed to start Workflow', { cause: new Error(REASON) })),
    },
  } as unknown as Client;
  const devices = new DeviceService(store, refusing);
  const created = devices.create({ name: 'dev-1' });
  await expect(created).rejects.toMatchObject({ code: 'TemporalUnavailable' });
  await expect(devices.create({ name: 'dev-2' })).rejects.toThrow(
    /Failed to start Workflow.*no mapping defined for search attribute WasmbedDevice/,
  );
});
