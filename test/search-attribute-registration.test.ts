/**
 * A Temporal the platform did not start (TEMPORAL_ADDRESS, the one server two machines share)
 * knows none of Wasmbed's search attributes, and then every workflow start — a device create, a
 * deploy — is refused. The orchestrator registers them at start (ensureSearchAttributes). Here a
 * namespace registered on a dev server stands for such a Temporal: it has no custom attributes.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import type { DevServer } from '../temporal/dev-server.js';
import { ensureSearchAttributes } from '../temporal/search-attribute-registration.js';
import { DEVICE_ATTRIBUTE, PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { waitFor } from './support/wait.js';
import { startOwnDevServer } from './support/dev-server.js';

const NAMESPACE = 'shared-elsewhere';
let home: string;
let temporal: DevServer;
let connection: Connection;

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-search-attributes-'));
  temporal = await startOwnDevServer(home);
  connection = await Connection.connect({ address: temporal.address });
  await connection.workflowService.registerNamespace({
    namespace: NAMESPACE,
    workflowExecutionRetentionPeriod: msToTs('1 day'),
  });
  await waitFor('the namespace registered', () =>
    connection.workflowService.describeNamespace({ namespace: NAMESPACE }).then(() => true),
  );
});
afterAll(async () => {
  await connection?.close();
  await temporal?.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

/** A start the way the services make one: with the device and phase attributes. */
function startWithAttributes(workflowId: string) {
  const client = new Client({ connection, namespace: NAMESPACE });
  return client.workflow.start('provisionDevice', {
    taskQueue: 'nobody-polls-this',
    workflowId,
    typedSearchAttributes: [
      { key: DEVICE_ATTRIBUTE, value: 'dev-1' },
      { key: PHASE_ATTRIBUTE, value: 'Provisioning' },
    ],
  });
}

it('registers the missing search attributes, so workflow starts are accepted', async () => {
  await expect(startWithAttributes('before')).rejects.toThrow();

  const added = await ensureSearchAttributes(connection, NAMESPACE);
  expect(added.sort()).toEqual(['WasmbedApplication', 'WasmbedDevice', 'WasmbedPhase']);

  // Registration may take a moment to reach the frontend's cache.
  await waitFor('a start with the search attributes accepted', () =>
    startWithAttributes(`after-${Date.now()}`).then(() => true),
  );
  // A second process starting later finds nothing to do.
  expect(await ensureSearchAttributes(connection, NAMESPACE)).toEqual([]);
}, 120_000);

it('loads in a real Node process, as the orchestrator loads it', () => {
  // vitest resolves a CommonJS package's named exports that Node's ESM loader does not: a named
  // import of @temporalio/proto passed here and crash-looped every orchestrator.
  const loaded = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      "await import('./temporal/search-attribute-registration.ts')",
    ],
    { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 },
  );
  expect(loaded.stderr).toBe('');
  expect(loaded.status).toBe(0);
}, 90_000);
