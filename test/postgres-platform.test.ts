/**
 * The whole platform on PostgreSQL (WASMBED_DATABASE_URL, a throwaway cluster from Debian's
 * packages): devices provision and connect, an app deploys, and PostgreSQL restarting in the
 * middle of 20 provisionings loses nothing — every device Connected, running once, with exactly
 * one active certificate. The SQLite file is not where any of it lives.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Application, Device } from '../common/resources.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import type { WorkflowHandle } from '@temporalio/client';
import { workflowHandle } from '../temporal/workflow-calls.js';
import {
  checkHealthSignal,
  deployWorkflowId,
  deviceLifecycleWorkflow,
  lifecycleWorkflowId,
} from '../workflows/contracts/index.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;
let sql: pg.Pool;

beforeAll(async () => {
  await buildApps({ log: () => {} });
  platform = await startTestPlatform({ postgres: true });
  sql = new pg.Pool({ connectionString: platform.postgres!.url, max: 2 });
  sql.on('error', () => {});
});
afterAll(async () => {
  await sql?.end();
  await platform?.stop();
});

async function phase(name: string): Promise<string | undefined> {
  const res = await platform.api('GET', `/api/v1/devices/${name}`);
  return res.status === 200 ? (res.body as Device).status.phase : undefined;
}

async function allConnected(names: string[], timeoutMs = 240_000): Promise<void> {
  let last: (string | undefined)[] = [];
  try {
    await waitFor(
      `${names.length} devices Connected`,
      async () => {
        last = await Promise.all(names.map(phase));
        return last.every((p) => p === 'Connected');
      },
      timeoutMs,
      500,
    );
  } catch (err) {
    // Which ones did not make it, and where they stand.
    const behind = names.map((n, i) => `${n}: ${last[i]}`).filter((line) => !line.endsWith('Connected'));
    throw new Error(`${(err as Error).message}; not Connected: ${behind.join(', ')}`, { cause: err });
  }
}

async function activeCertificates(): Promise<Map<string, number>> {
  const { rows } = await sql.query<{ device_name: string; n: string }>(
    'SELECT device_name, count(*) AS n FROM certificates WHERE revoked_at IS NULL GROUP BY device_name',
  );
  return new Map(rows.map((r) => [r.device_name, Number(r.n)]));
}

describe('the platform on PostgreSQL', () => {
  it(
    'provisions devices to Connected and deploys an app to them; the state is in PostgreSQL',
    { timeout: 300_000 },
    async () => {
      const names = ['pg-1', 'pg-2'];
      for (const name of names) {
        expect(
          (await platform.api('POST', '/api/v1/devices', { name, labels: { group: 'pg' } })).status,
        ).toBe(202);
      }
      await allConnected(names, 120_000);

      const wasm = fs.readFileSync(path.join(DIST_DIR, 'hello.wasm')).toString('base64');
      const res = await platform.api('POST', '/api/v1/applications', {
        name: 'hello',
        wasm,
        target: { selector: { group: 'pg' } },
        env: { GREETING: 'hello from postgres' },
      });
      expect(res.status).toBe(202);
      const app = await waitFor(
        'hello to settle',
        async () => {
          const a = (await platform.api('GET', '/api/v1/applications/hello')).body as Application;
          return ['Running', 'PartiallyRunning', 'Failed', 'RolledBack'].includes(a.status?.phase)
            ? a
            : undefined;
        },
        120_000,
      );
      expect(app.status.phase).toBe('Running');
      await waitFor('the app output in the device log', async () => {
        const logs = await platform.api('GET', '/api/v1/devices/pg-1/logs?app=hello');
        return logs.body.items.some((e: { message: string }) => e.message.includes('hello from postgres'));
      });

      // Where it lives: the rows are in PostgreSQL.
      const { rows } = await sql.query<{ name: string }>(
        "SELECT name FROM resources WHERE kind = 'Device' ORDER BY name",
      );
      expect(rows.map((r) => r.name)).toEqual(names);
      expect((await activeCertificates()).get('pg-1')).toBe(1);
      const modules = await sql.query('SELECT sha256 FROM modules');
      expect(modules.rowCount).toBe(1);
      const logLines = await sql.query(
        "SELECT 1 FROM device_logs WHERE device = 'pg-1' AND app_id = 'hello'",
      );
      expect(logLines.rowCount).toBeGreaterThan(0);
    },
  );

  it(
    'restarting PostgreSQL in the middle of 20 provisionings: all 20 Connected, one certificate each, none lost',
    { timeout: 420_000 },
    async () => {
      const res = await platform.api('POST', '/api/v1/device-batches', {
        name: 'burst',
        count: 20,
        prefix: 'burst',
      });
      expect(res.status).toBe(202);
      const names: string[] = res.body.devices;
      expect(names).toHaveLength(20);

      // Wait until the burst is under way (some devices provisioning, not all done), then restart.
      await waitFor(
        'the burst to be under way',
        async () => {
          const phases = await Promise.all(names.map(phase));
          return phases.some((p) => p === 'Provisioning' || p === 'Connected');
        },
        60_000,
        100,
      );
      const connectedBefore = (await Promise.all(names.map(phase))).filter((p) => p === 'Connected').length;
      // A crash, not a clean shutdown: transactions in flight die with their connections.
      await platform.postgres!.stop('immediate');
      // Down longer than a store waits for a connection (10 s): activities fail with
      // DatabaseUnavailable and Temporal retries them; the gateway and the web run into it too.
      await new Promise((resolve) => setTimeout(resolve, 12_000));
      await platform.postgres!.start();
      expect(connectedBefore).toBeLessThan(20);

      await allConnected(names);
      const active = await activeCertificates();
      for (const name of names) expect(active.get(name), name).toBe(1);
      const { rows } = await sql.query<{ name: string }>(
        "SELECT name FROM resources WHERE kind = 'Device' AND name LIKE 'burst-%' ORDER BY name",
      );
      expect(rows.map((r) => r.name).sort()).toEqual([...names].sort());
      // Each device runs exactly once.
      for (const name of names) expect(platform.deviceProcesses(name), name).toHaveLength(1);
      // No process died of it.
      for (const [name, child] of platform.processes) expect(child.exitCode, `${name} exit code`).toBeNull();
    },
  );

  it(
    'PostgreSQL down for over 3 minutes: the lifecycles and a rollout under way wait it out and carry on',
    { timeout: 600_000 },
    async () => {
      const names = ['pg-1', 'pg-2', 'burst-1'];
      await allConnected(names);
      const lifecycles = names.map((name) =>
        workflowHandle(platform.client, deviceLifecycleWorkflow, lifecycleWorkflowId(name)),
      );
      const wasm = fs.readFileSync(path.join(DIST_DIR, 'blinky.wasm')).toString('base64');
      const rollout = await platform.api('POST', '/api/v1/applications', {
        name: 'outlasting',
        wasm,
        target: { selector: { group: 'pg' } },
        strategy: { type: 'Rolling', maxUnavailable: 1 },
      });
      expect(rollout.status).toBe(202);
      await platform.postgres!.stop('fast');
      const stoppedAt = Date.now();
      try {
        // Each check's activity tries 3 times, each waiting 10 s for a connection: ~30 s, and it
        // fails. The lifecycle ended there (FAILED), and its device was watched by nothing.
        for (const lifecycle of lifecycles) await lifecycle.signal(checkHealthSignal, { reason: 'test' });
        await waitFor(
          'every lifecycle past a failed check (waiting to look again), or ended',
          async () => {
            const states = await Promise.all(lifecycles.map(afterFailedCheck));
            return states.every((state) => state !== 'checking');
          },
          180_000,
          1000,
        );
        // The rollout's store steps tried 10 times, ~2.5 minutes: it failed in the middle and its
        // Application was Failed, nothing being wrong with it.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedAt + 200_000 - Date.now())));
      } finally {
        await platform.postgres!.start();
      }
      for (const lifecycle of lifecycles) {
        expect((await lifecycle.describe()).status.name, lifecycle.workflowId).toBe('RUNNING');
      }
      const app = await waitFor(
        'outlasting to settle',
        async () => {
          const a = (await platform.api('GET', '/api/v1/applications/outlasting')).body as Application;
          return ['Running', 'PartiallyRunning', 'Failed', 'RolledBack'].includes(a.status?.phase)
            ? a
            : undefined;
        },
        240_000,
        1000,
      );
      // Where it got to before the outage decides which (a deploy the gateway could not make —
      // it reads the module from the store too — counts as a failure and rolls back); what
      // matters is that it ended, and says so.
      expect(['Running', 'RolledBack']).toContain(app.status.phase);
      const run = await platform.client.workflow.getHandle(deployWorkflowId('outlasting')).describe();
      expect(run.status.name).toBe('COMPLETED');
      // And they watch again: a device whose power is cut is recovered.
      await platform.killDevice('burst-1');
      await waitFor(
        'burst-1 recovered',
        async () =>
          platform.deviceProcesses('burst-1').length === 1 && (await phase('burst-1')) === 'Connected',
        120_000,
        500,
      );
      await allConnected(names);
    },
  );
});

/**
 * Where a lifecycle stands after its check was asked for with the store down: `waiting` once it
 * started the short timer it sets after a failed step, `ended` if the run closed, else `checking`.
 */
async function afterFailedCheck(handle: WorkflowHandle): Promise<'waiting' | 'ended' | 'checking'> {
  if ((await handle.describe()).status.name !== 'RUNNING') return 'ended';
  const events = (await handle.fetchHistory()).events ?? [];
  // Only what happened after the test's signal counts (a grace period earlier is a short timer too).
  let signalled = -1;
  events.forEach((e, index) => {
    if (e.workflowExecutionSignaledEventAttributes?.signalName === checkHealthSignal.name) signalled = index;
  });
  const waiting = events.slice(signalled + 1).some((e) => {
    const timeout = e.timerStartedEventAttributes?.startToFireTimeout;
    if (!timeout) return false;
    const seconds =
      typeof timeout.seconds === 'object' && timeout.seconds
        ? timeout.seconds.toNumber()
        : Number(timeout.seconds ?? 0);
    // (The lifecycle's other timers are the safety net's minutes and the renewal time.)
    return seconds < 60;
  });
  return signalled >= 0 && waiting ? 'waiting' : 'checking';
}
