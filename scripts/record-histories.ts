/**
 * Records the event histories of every workflow one small scenario runs, for
 * test/workflow-replay.test.ts: it starts a platform the way the tests do (test/support/platform.ts),
 * provisions one virtual device, deploys one app to it while it provisions, updates the app to a
 * version that traps (rolled back), rotates the device's certificate, cuts its
 * power (a recovery), undeploys the app and deletes the device. Each workflow run's history is
 * written as JSON (test/support/history-json.ts) to test/fixtures/histories/<label>/<workflowId>.<n>.json;
 * the device's lifecycle is also saved while it still runs (a lifecycle only ends with its device,
 * and an upgrade meets lifecycles mid-run), as lifecycle-<device>.running.json.
 *
 *   npx tsx scripts/record-histories.ts <label>
 *
 * Record a new set from main BEFORE changing a workflow (label main-<short sha>), so the replay
 * test checks that runs begun on the old code still replay on the new one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../common/repo-root.js';
import { buildApps, DIST_DIR } from './build-apps.mjs';
import { historyToJson } from '../test/support/history-json.js';
import { startTestPlatform, type TestPlatform } from '../test/support/platform.js';
import { waitFor } from '../test/support/wait.js';

const DEVICE = 'replay-dev';
const APP = 'replay-app';
const TIMEOUT_MS = 120_000;

const label = process.argv[2];
if (!label || !/^[\w.-]+$/.test(label)) {
  process.stderr.write('usage: npx tsx scripts/record-histories.ts <label>  (letters, digits, . _ -)\n');
  process.exit(2);
}
const outDir = path.join(REPO_ROOT, 'test', 'fixtures', 'histories', label);

async function main(): Promise<void> {
  await buildApps({ log: () => {} });
  const platform = await startTestPlatform({
    env: {
      WASMBED_LIFECYCLE_CHECK_MS: '5000',
      WASMBED_LIFECYCLE_GRACE_MS: '1500',
      WASMBED_LIFECYCLE_MAX_ATTEMPTS: '4',
    },
  });
  try {
    await runScenario(platform);
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.mkdirSync(outDir, { recursive: true });
    await saveRunning(platform, `lifecycle-${DEVICE}`, 'running');
    await remove(platform);
    const written = await saveAll(platform);
    process.stdout.write(`${written} histories in ${path.relative(REPO_ROOT, outDir)}\n`);
  } finally {
    await platform.stop();
  }
}

async function runScenario(platform: TestPlatform): Promise<void> {
  const device = async () => (await platform.api('GET', `/api/v1/devices/${DEVICE}`)).body;
  const connected = async () => (await device())?.status?.phase === 'Connected';
  const appState = async () => (await device())?.status?.apps?.[APP]?.state;
  const wasm = (app: string) => fs.readFileSync(path.join(DIST_DIR, `${app}.wasm`)).toString('base64');
  const appPhase = async () => (await platform.api('GET', `/api/v1/applications/${APP}`)).body?.status?.phase;
  await expectStatus(platform.api('POST', '/api/v1/devices', { name: DEVICE }), 202, 'create the device');
  // Deployed while the device still provisions: the rollout leaves it Pending and its lifecycle
  // deploys the app once it connects.
  await expectStatus(
    platform.api('POST', '/api/v1/applications', {
      name: APP,
      module: wasm('blinky'),
      target: { devices: [DEVICE] },
    }),
    202,
    'deploy the app',
  );
  await waitFor(`${DEVICE} Connected`, connected, TIMEOUT_MS);
  await waitFor(`${APP} Running`, async () => (await appState()) === 'Running', TIMEOUT_MS);

  // A second version that traps: the rollout fails its health check and rolls back to the first.
  await expectStatus(
    platform.api('PUT', `/api/v1/applications/${APP}`, {
      name: APP,
      module: wasm('faulty'),
      entry: 'trap',
      target: { devices: [DEVICE] },
      strategy: { type: 'Rolling', maxUnavailable: 1, failureThreshold: 0 },
    }),
    202,
    'update the app',
  );
  await waitFor(`${APP} RolledBack`, async () => (await appPhase()) === 'RolledBack', TIMEOUT_MS);
  await waitFor(`${APP} Running again`, async () => (await appState()) === 'Running', TIMEOUT_MS);

  const serial = (await device()).status.identity?.certSerial;
  await expectStatus(
    platform.api('POST', `/api/v1/devices/${DEVICE}/rotate-certificate`),
    202,
    'rotate the certificate',
  );
  await waitFor(
    'the new certificate in use',
    async () => (await device()).status.identity?.certSerial !== serial && (await connected()),
    TIMEOUT_MS,
  );

  await platform.killDevice(DEVICE);
  await waitFor(`${DEVICE} noticed lost`, async () => !(await connected()), TIMEOUT_MS);
  await waitFor(
    `${DEVICE} recovered`,
    async () => (await connected()) && (await appState()) === 'Running',
    TIMEOUT_MS,
  );
}

async function remove(platform: TestPlatform): Promise<void> {
  await expectStatus(platform.api('DELETE', `/api/v1/applications/${APP}`), 202, 'undeploy the app');
  await waitFor(
    `${APP} gone`,
    async () => (await platform.api('GET', `/api/v1/applications/${APP}`)).status === 404,
    TIMEOUT_MS,
  );
  await expectStatus(platform.api('DELETE', `/api/v1/devices/${DEVICE}`), 202, 'delete the device');
  await waitFor(
    `${DEVICE} gone`,
    async () => (await platform.api('GET', `/api/v1/devices/${DEVICE}`)).status === 404,
    TIMEOUT_MS,
  );
  // Every workflow closed (the lifecycle ends with its device): complete histories to save.
  await waitFor(
    'every workflow closed',
    async () => {
      for await (const run of platform.client.workflow.list({ query: 'ExecutionStatus = "Running"' }))
        if (run) return false;
      return true;
    },
    TIMEOUT_MS,
  );
}

async function expectStatus(
  response: Promise<{ status: number; body: unknown }>,
  status: number,
  what: string,
): Promise<void> {
  const res = await response;
  if (res.status !== status)
    throw new Error(`could not ${what}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
}

async function saveRunning(platform: TestPlatform, workflowId: string, suffix: string): Promise<void> {
  const history = await platform.client.workflow.getHandle(workflowId).fetchHistory();
  fs.writeFileSync(path.join(outDir, `${workflowId}.${suffix}.json`), historyToJson(history));
}

/** Every run of every workflow in the namespace, oldest first within a workflow id. */
async function saveAll(platform: TestPlatform): Promise<number> {
  const runs: { workflowId: string; runId: string; start: number }[] = [];
  for await (const run of platform.client.workflow.list()) {
    runs.push({ workflowId: run.workflowId, runId: run.runId, start: run.startTime.getTime() });
  }
  runs.sort((a, b) => a.workflowId.localeCompare(b.workflowId) || a.start - b.start);
  const seen = new Map<string, number>();
  for (const { workflowId, runId } of runs) {
    const n = (seen.get(workflowId) ?? 0) + 1;
    seen.set(workflowId, n);
    const history = await platform.client.workflow.getHandle(workflowId, runId).fetchHistory();
    fs.writeFileSync(path.join(outDir, `${workflowId}.${n}.json`), historyToJson(history));
  }
  return runs.length;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `record-histories failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
