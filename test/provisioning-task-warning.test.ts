/**
 * A provisioning run on its device's host holds its first workflow task while its local
 * activities run (workflows/provision-device.ts); under a burst that task lasts 5–6 s and the
 * SDK's core warned TMPRL1104 ("Workflow task duration exceeded 5 seconds") for each device of
 * it — 150 warnings for a 300-device batch, with nothing wrong. The core heartbeats such a task
 * at 8 s, so Wasmbed's workers warn only past 9 s (temporal/runtime.ts WORKFLOW_TASK_WARN_SECONDS).
 * Real platform; the host's steps are held 1.5 s each (WASMBED_TEST_HOST_STEP_DELAY_MS), a 6 s task.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hostLogFile } from '../host/supervisor.js';
import { provisionWorkflowId } from '../workflows/contracts/index.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({ env: { WASMBED_TEST_HOST_STEP_DELAY_MS: '1500' } });
}, 120_000);
afterAll(async () => {
  await platform?.stop();
});

const seconds = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  Number(t?.seconds ?? 0) + (t?.nanos ?? 0) / 1e9;

it('a provisioning task that waits 6 s on its local activities logs no warning on the host', async () => {
  const created = await platform.api('POST', '/api/v1/devices', { name: 'slow-steps' });
  expect(created.status).toBe(202);
  await waitFor(
    'slow-steps Connected',
    async () => (await platform.api('GET', '/api/v1/devices/slow-steps')).body.status?.phase === 'Connected',
    60_000,
  );
  const history = await platform.client.workflow.getHandle(provisionWorkflowId('slow-steps')).fetchHistory();
  const events = history.events!;
  // Its host steps ran in its first workflow task, which lasted over the SDK's 5 s and never timed out.
  const started = events.find((e) => e.workflowTaskStartedEventAttributes);
  const completed = events.find((e) => e.workflowTaskCompletedEventAttributes);
  expect(seconds(completed?.eventTime) - seconds(started?.eventTime)).toBeGreaterThan(5);
  expect(events.filter((e) => e.workflowTaskTimedOutEventAttributes)).toEqual([]);
  const hostLog = fs.readFileSync(hostLogFile(platform.home, platform.hostId), 'utf8');
  expect(hostLog.split('\n').filter((line) => line.includes('TMPRL1104'))).toEqual([]);
}, 90_000);
