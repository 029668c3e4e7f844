/**
 * Records the event histories of every workflow one small scenario runs, for
 * test/workflow-replay.test.ts: it starts a platform the way the tests do (test/support/platform.ts),
 * provisions one virtual device, deploys one app to it while it provisions, updates the app to a
 * version that traps (rolled back), rotates the device's certificate, cuts its
 * power (a recovery); then, with a second device, rolls a Canary out that pauses and is promoted,
 * and another that is aborted, stops the app (`stop-<app>`), cuts the second device's power with
 * its firmware gone (a recovery that fails); enrolls a board with a claim token (`enroll-<board>`,
 * a real `wasmbed-device` process); provisions a device from a run started on the orchestrator's
 * queue (its host steps in a child, `prepare-<device>`); undeploys the apps and deletes the devices. The dev server
 * suggests continue-as-new after CONTINUE_AS_NEW_AFTER events, so the lifecycles continue as new
 * on their way. Each workflow run's history is written as JSON (test/support/history-json.ts) to
 * test/fixtures/histories/<label>/<workflowId>.<n>.json; the device's lifecycle is also saved
 * while it still runs (a lifecycle only ends with its device, and an upgrade meets lifecycles
 * mid-run), as lifecycle-<device>.running.json.
 *
 *   npx tsx scripts/record-histories.ts <label>
 *
 * Record a new set from main BEFORE changing a workflow (label main-<short sha>), so the replay
 * test checks that runs begun on the old code still replay on the new one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ORCHESTRATOR_TASK_QUEUE, paths } from '../common/config.js';
import { REPO_ROOT } from '../common/repo-root.js';
import { volumeFiles } from '../device/volume-layout.js';
import { buildApps, DIST_DIR } from './build-apps.mjs';
import { historyToJson } from '../test/support/history-json.js';
import { startTestPlatform, type TestPlatform } from '../test/support/platform.js';
import { waitFor } from '../test/support/wait.js';
import { startWorkflow } from '../temporal/workflow-calls.js';
import { provisionDeviceWorkflow, provisionWorkflowId } from '../workflows/contracts/index.js';

const DEVICE = 'replay-dev';
const APP = 'replay-app';
/** The second device: the canary rollouts' other target, and the one whose recovery fails. */
const PEER = 'replay-peer';
const CANARY_APP = 'replay-canary';
const BOARD = 'replay-board';
/** Provisioned by a run started on the orchestrator's queue (as the Kubernetes controller starts it). */
const ORCH_DEVICE = 'replay-orch';
/** History length after which the dev server suggests continue-as-new (the lifecycle honours it). */
const CONTINUE_AS_NEW_AFTER = 60;
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
    temporalDynamicConfig: { 'limit.historyCount.suggestContinueAsNew': CONTINUE_AS_NEW_AFTER },
  });
  const board: { process?: ChildProcess; dir?: string } = {};
  try {
    await runScenario(platform);
    await canaryPromotedAbortedAndStopped(platform);
    await failedRecovery(platform);
    Object.assign(board, await enrollBoard(platform));
    await provisionedFromOrchestratorQueue(platform);
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.mkdirSync(outDir, { recursive: true });
    await saveRunning(platform, `lifecycle-${DEVICE}`, 'running');
    await remove(platform, board.process);
    const written = await saveAll(platform);
    process.stdout.write(`${written} histories in ${path.relative(REPO_ROOT, outDir)}\n`);
  } finally {
    board.process?.kill('SIGKILL');
    if (board.dir) fs.rmSync(board.dir, { recursive: true, force: true });
    await platform.stop();
  }
}

const wasm = (app: string) => fs.readFileSync(path.join(DIST_DIR, `${app}.wasm`)).toString('base64');
const getDevice = async (platform: TestPlatform, name: string) =>
  (await platform.api('GET', `/api/v1/devices/${name}`)).body;
const getApplication = async (platform: TestPlatform, name: string) =>
  (await platform.api('GET', `/api/v1/applications/${name}`)).body;

async function runScenario(platform: TestPlatform): Promise<void> {
  const device = () => getDevice(platform, DEVICE);
  const connected = async () => (await device())?.status?.phase === 'Connected';
  const appState = async () => (await device())?.status?.apps?.[APP]?.state;
  const appPhase = async () => (await getApplication(platform, APP))?.status?.phase;
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
  // And its first rollout ended: an update while it still runs has no version to roll back to
  // (status.currentModule is set as a rollout ends), and the rollback below stopped the app
  // instead of putting it back — the recording waited for Running in vain (it failed so twice).
  await waitFor(`${APP}'s first rollout Running`, async () => (await appPhase()) === 'Running', TIMEOUT_MS);

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

/**
 * A Canary over both devices that pauses after its canary and is promoted; an update of it that
 * pauses and is aborted (rolled back); then the app is stopped and kept (`stop-<app>`).
 */
async function canaryPromotedAbortedAndStopped(platform: TestPlatform): Promise<void> {
  await expectStatus(platform.api('POST', '/api/v1/devices', { name: PEER }), 202, 'create the peer');
  await waitFor(
    `${PEER} Connected`,
    async () => (await getDevice(platform, PEER))?.status?.phase === 'Connected',
    TIMEOUT_MS,
  );
  const app = () => getApplication(platform, CANARY_APP);
  const canary = (module: string) => ({
    name: CANARY_APP,
    module: wasm(module),
    target: { devices: [DEVICE, PEER] },
    strategy: { type: 'Canary', canary: 1, pauseAfterCanary: true, failureThreshold: 0 },
  });
  const paused = async () => (await app())?.status?.awaitingPromotion === true;

  await expectStatus(platform.api('POST', '/api/v1/applications', canary('blinky')), 202, 'deploy a canary');
  await waitFor(`${CANARY_APP} canary paused`, paused, TIMEOUT_MS);
  await expectStatus(platform.api('POST', `/api/v1/applications/${CANARY_APP}/promote`), 202, 'promote');
  await waitFor(`${CANARY_APP} Running`, async () => (await app())?.status?.phase === 'Running', TIMEOUT_MS);

  await expectStatus(
    platform.api('PUT', `/api/v1/applications/${CANARY_APP}`, canary('sensor')),
    202,
    'update the canary',
  );
  await waitFor(`${CANARY_APP} update paused`, paused, TIMEOUT_MS);
  await expectStatus(platform.api('POST', `/api/v1/applications/${CANARY_APP}/abort`), 202, 'abort');
  await waitFor(
    `${CANARY_APP} RolledBack`,
    async () => (await app())?.status?.phase === 'RolledBack',
    TIMEOUT_MS,
  );

  await expectStatus(platform.api('POST', `/api/v1/applications/${CANARY_APP}/stop`), 202, 'stop the app');
  await waitFor(`${CANARY_APP} Stopped`, async () => (await app())?.status?.phase === 'Stopped', TIMEOUT_MS);
}

/** The peer's power cut with its firmware gone: every recovery attempt fails, and so does the lifecycle. */
async function failedRecovery(platform: TestPlatform): Promise<void> {
  fs.rmSync(volumeFiles(paths.volume(platform.home, PEER)).firmware);
  await platform.killDevice(PEER);
  await waitFor(
    `${PEER} Failed`,
    async () => (await getDevice(platform, PEER))?.status?.phase === 'Failed',
    TIMEOUT_MS,
  );
  await waitFor(
    `lifecycle-${PEER} failed`,
    async () =>
      (await platform.client.workflow.getHandle(`lifecycle-${PEER}`).describe()).status.name === 'FAILED',
    TIMEOUT_MS,
  );
}

/** A board (a real `wasmbed-device` process) enrolls with a claim token and is approved. */
async function enrollBoard(platform: TestPlatform): Promise<{ process: ChildProcess; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-replay-board-'));
  const ca = path.join(dir, 'ca.pem');
  fs.writeFileSync(ca, await (await fetch(`${platform.webUrl}/api/v1/pki/ca.pem`)).text());
  const token = await platform.api('POST', '/api/v1/enrollment-tokens', { ttl: '10m' });
  if (token.status !== 201) throw new Error(`could not make a claim token: HTTP ${token.status}`);
  const board = spawn(
    process.execPath,
    [
      path.join(REPO_ROOT, 'device', 'wasmbed-device.mjs'),
      ...['--gateway', `127.0.0.1:${platform.gatewayPort}`, '--ca', ca, '--name', BOARD],
      ...['--state-dir', path.join(dir, 'state'), '--claim-token', (token.body as { token: string }).token],
    ],
    { cwd: REPO_ROOT, stdio: 'ignore' },
  );
  await waitFor(
    `${BOARD} awaiting approval`,
    async () =>
      ((await platform.api('GET', '/api/v1/enrollments')).body.items as { name: string }[]).some(
        (e) => e.name === BOARD,
      ),
    TIMEOUT_MS,
  );
  await expectStatus(platform.api('POST', `/api/v1/enrollments/${BOARD}/approve`), 202, 'approve the board');
  await waitFor(
    `${BOARD} Connected`,
    async () => (await getDevice(platform, BOARD))?.status?.phase === 'Connected',
    TIMEOUT_MS,
  );
  return { process: board, dir };
}

/**
 * A run started on the orchestrator's queue, as the Kubernetes controller starts it (the API
 * starts it on the device's host): its host steps run in a child on the host (`prepare-<device>`).
 */
async function provisionedFromOrchestratorQueue(platform: TestPlatform): Promise<void> {
  await startWorkflow(platform.client, provisionDeviceWorkflow, {
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    workflowId: provisionWorkflowId(ORCH_DEVICE),
    args: [{ name: ORCH_DEVICE }],
  });
  await waitFor(
    `${ORCH_DEVICE} Connected`,
    async () => (await getDevice(platform, ORCH_DEVICE))?.status?.phase === 'Connected',
    TIMEOUT_MS,
  );
}

async function remove(platform: TestPlatform, board: ChildProcess | undefined): Promise<void> {
  for (const app of [APP, CANARY_APP]) {
    await expectStatus(platform.api('DELETE', `/api/v1/applications/${app}`), 202, `undeploy ${app}`);
    await waitFor(
      `${app} gone`,
      async () => (await platform.api('GET', `/api/v1/applications/${app}`)).status === 404,
      TIMEOUT_MS,
    );
  }
  // The board powered off first: deleting it revokes its certificate and ends its session anyway.
  board?.kill('SIGKILL');
  for (const name of [DEVICE, PEER, BOARD, ORCH_DEVICE]) {
    await expectStatus(platform.api('DELETE', `/api/v1/devices/${name}`), 202, `delete ${name}`);
  }
  for (const name of [DEVICE, PEER, BOARD, ORCH_DEVICE]) {
    await waitFor(
      `${name} gone`,
      async () => (await platform.api('GET', `/api/v1/devices/${name}`)).status === 404,
      TIMEOUT_MS,
    );
  }
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
