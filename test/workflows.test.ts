/**
 * Workflow logic on Temporal's TestWorkflowEnvironment with fake activities (test/support/
 * workflow-env.ts): rollout waves, rollback of an updated and of a new application, canary abort
 * and promote, the lifecycle's grace period and recovery backoff. The activities are fakes on
 * purpose — the platform suites (rollouts, recovery) run the real ones with real devices.
 */
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RolloutPlan } from '../activities/applications.js';
import type { AppToRun } from '../activities/lifecycle.js';
import type { AppDeviceState, ApplicationPhase, DeployedVersion } from '../common/resources.js';
import { FailureType } from '../common/failures.js';
import type {
  AckResult,
  AwaitSessionInput,
  BatchAck,
  BatchStatus,
  DeployInput,
  DeployManyInput,
} from '../gateway/activities.js';
import { startWorkflow, workflowHandle } from '../temporal/workflow-calls.js';
import {
  abortSignal,
  checkHealthSignal,
  deployApplicationWorkflow,
  deployWorkflowId,
  deviceLifecycleWorkflow,
  disconnectedSignal,
  connectedSignal,
  lifecycleWorkflowId,
  promoteSignal,
} from '../workflows/contracts/index.js';
import {
  GATEWAY_QUEUE,
  WORKFLOW_QUEUE,
  startWorkflowTestEnv,
  type WorkflowTestEnv,
} from './support/workflow-env.js';
import { waitFor } from './support/wait.js';
import { applicationSpec } from './support/application-spec.js';

const NEW = { sha256: 'b'.repeat(64), size: 200 };
const PREVIOUS: DeployedVersion = { sha256: 'a'.repeat(64), size: 100, entry: 'old_main', env: { V: '1' } };

/** What the fakes were asked, in order; reset before each test. */
const world = {
  plan: undefined as RolloutPlan | undefined,
  /** Devices whose ack of the new module is a failure. */
  refuseNew: new Set<string>(),
  gateway: [] as { op: 'deploy' | 'query' | 'stop'; device: string; sha256?: string; entry?: string }[],
  phases: [] as { phase: ApplicationPhase; awaitingPromotion?: boolean; currentModule?: DeployedVersion }[],
  states: new Map<string, AppDeviceState['state'][]>(),
  lifecycle: [] as { op: string; device: string; detail?: string }[],
  sessionFails: false,
  gone: new Set<string>(),
  /** Apps a device should run and has not had yet, by device (appsForDevice). */
  waitingApps: new Map<string, AppToRun[]>(),
  /** Devices whose check finds their gateway gone (what the watchdog's signal leads to). */
  gatewayGone: new Set<string>(),
  /** When each device's certificate enters its renewal window (epoch ms). */
  renewAt: new Map<string, number>(),
  /** Devices whose endpoint write (writeEndpoint) waits for the test: a host still restarting. */
  endpointHeld: new Map<string, { writing: boolean; release: Promise<void> }>(),
  /** Gateway activity calls that carried a batch of devices, with its size. */
  batches: [] as number[],
  /** Devices whose host is dead: the next relocation moves them (once), to a host that fails the first volume. */
  movedOnce: new Set<string>(),
  /** How long each device is left to its restarting host (hostRestartWaitMs); 0 when absent. */
  hostRestartWait: new Map<string, number>(),
  /** Checks (checkDeviceHealth) of each device that fail, past their retries, before one succeeds. */
  checkFailures: new Map<string, number>(),
  /** Reads of each device's gateway queue (deviceTaskQueue) that fail, past their retries, first. */
  taskQueueFailures: new Map<string, number>(),
  /** What the gateway the store calls gone answers when asked for a device's session. */
  gatewayAnswers: new Map<string, 'session' | 'none' | 'error'>(),
};

const orchestrator = {
  // deployApplication's application activities
  async prepareRollout(): Promise<RolloutPlan> {
    return world.plan!;
  },
  async setApplicationPhase(
    _name: string,
    phase: ApplicationPhase,
    options: { awaitingPromotion?: boolean; currentModule?: DeployedVersion } = {},
  ) {
    world.phases.push({
      phase,
      awaitingPromotion: options.awaitingPromotion,
      currentModule: options.currentModule,
    });
  },
  async recordAppDeviceState(name: string, device: string, state: AppDeviceState['state']) {
    world.states.set(device, [...(world.states.get(device) ?? []), state]);
    // What the store does: a device that got an app it was waiting for no longer waits for it
    // (Pending is still waiting).
    const waiting = world.waitingApps.get(device)?.filter((a) => a.appId !== name || state === 'Pending');
    if (waiting) world.waitingApps.set(device, waiting);
  },
  // deviceLifecycle's activities
  async deviceTaskQueue(device: string): Promise<string | null> {
    const failures = world.taskQueueFailures.get(device) ?? 0;
    if (failures > 0) {
      world.taskQueueFailures.set(device, failures - 1);
      world.lifecycle.push({ op: 'taskQueueFailed', device });
      throw ApplicationFailure.nonRetryable('the store is unreachable', 'DatabaseUnavailable');
    }
    return world.waitingApps.has(device) ? GATEWAY_QUEUE : null;
  },
  async recordAppDeviceStates(name: string, states: { device: string; state: AppDeviceState['state'] }[]) {
    for (const { device, state } of states) await orchestrator.recordAppDeviceState(name, device, state);
  },
  async checkDeviceHealth(device: string) {
    const failures = world.checkFailures.get(device) ?? 0;
    if (failures > 0) {
      world.checkFailures.set(device, failures - 1);
      world.lifecycle.push({ op: 'checkFailed', device });
      throw ApplicationFailure.nonRetryable('the store is unreachable', 'DatabaseUnavailable');
    }
    const appsWaiting = (world.waitingApps.get(device) ?? []).length > 0;
    const renewAt = world.renewAt.get(device);
    const lost = world.gatewayGone.has(device);
    if (lost) world.gatewayGone.delete(device); // recovery moves it to a live one
    return {
      gone: world.gone.has(device),
      needsRecovery: lost,
      reason: lost ? 'gateway gw-dead is gone' : undefined,
      rotateCertificate: renewAt !== undefined && renewAt <= Date.now(),
      renewAt,
      appsWaiting,
      confirmWithGateway: lost ? GATEWAY_QUEUE : undefined,
    };
  },
  async markRecovering(device: string, reason: string) {
    world.lifecycle.push({ op: 'markRecovering', device, detail: reason });
  },
  async hostRestartWaitMs(device: string) {
    const waitMs = world.hostRestartWait.get(device) ?? 0;
    if (waitMs > 0) world.lifecycle.push({ op: 'hostRestartWaitMs', device, detail: String(waitMs) });
    return waitMs;
  },
  async markReconnected(device: string) {
    world.lifecycle.push({ op: 'markReconnected', device });
  },
  async relocateDevice(device: string) {
    world.lifecycle.push({ op: 'relocateDevice', device });
    // The device host's activities are these fakes too, on the workflow's queue.
    const moved = world.movedOnce.delete(device);
    return { id: 'host-test', taskQueue: WORKFLOW_QUEUE, moved };
  },
  async prepareVolume(device: string) {
    const failed = world.lifecycle.some((c) => c.op === 'prepareVolume' && c.device === device);
    world.lifecycle.push({ op: 'prepareVolume', device });
    if (!failed) throw ApplicationFailure.nonRetryable('the new host is still starting');
  },
  async copyFirmware(device: string) {
    world.lifecycle.push({ op: 'copyFirmware', device });
  },
  async assignGateway(device: string) {
    world.lifecycle.push({ op: 'assignGateway', device });
    return { name: 'gw-test', endpoint: '127.0.0.1:1', taskQueue: GATEWAY_QUEUE };
  },
  async writeEndpoint(device: string) {
    const held = world.endpointHeld.get(device);
    if (!held) return;
    held.writing = true;
    await held.release;
  },
  async ensureEmulator() {
    return { restarted: false };
  },
  async issueCertificate(device: string) {
    if (world.renewAt.has(device)) {
      world.lifecycle.push({ op: 'issueCertificate', device });
      world.renewAt.set(device, Date.now() + 3_600_000); // the new one is due much later
    }
    return { certSerial: '01', spkiSha256: 'c'.repeat(64), notAfter: '2030-01-01T00:00:00Z' };
  },
  async markConnected(device: string) {
    world.lifecycle.push({ op: 'markConnected', device });
  },
  async markFailed(device: string, step: string, message: string) {
    world.lifecycle.push({ op: 'markFailed', device, detail: `${step}: ${message}` });
  },
  async appsForDevice(device: string) {
    return world.waitingApps.get(device) ?? [];
  },
};

const gateway = {
  async deployApplication(input: DeployInput): Promise<AckResult> {
    world.gateway.push({
      op: 'deploy',
      device: input.device,
      sha256: input.moduleSha256,
      entry: input.entry,
    });
    const refused = world.refuseNew.has(input.device) && input.moduleSha256 === NEW.sha256;
    return refused ? { ok: false, error: 'trap: unreachable' } : { ok: true, error: null };
  },
  async deployApplicationToMany(input: DeployManyInput): Promise<BatchAck[]> {
    world.batches.push(input.devices.length);
    return Promise.all(
      input.devices.map(async (device) => ({
        device,
        reached: true,
        ...(await gateway.deployApplication({ ...input, device })),
      })),
    );
  },
  async queryApplicationStatusOfMany(input: { devices: string[]; appId: string }): Promise<BatchStatus[]> {
    world.batches.push(input.devices.length);
    return Promise.all(
      input.devices.map(async (device) => ({
        device,
        apps: await gateway.queryApplicationStatus({ device, appId: input.appId }),
        error: null,
      })),
    );
  },
  async queryApplicationStatus(input: { device: string; appId?: string }) {
    world.gateway.push({ op: 'query', device: input.device });
    if (world.waitingApps.has(input.device)) return []; // it runs nothing yet
    return [{ appId: input.appId ?? 'app', state: 'Running' as const, error: null, restarts: 0 }];
  },
  async stopApplication(input: { device: string }): Promise<AckResult> {
    world.gateway.push({ op: 'stop', device: input.device });
    return { ok: true, error: null };
  },
  async awaitDeviceSession(input: AwaitSessionInput) {
    world.lifecycle.push({ op: 'awaitDeviceSession', device: input.device });
    if (world.sessionFails)
      throw ApplicationFailure.nonRetryable('no session within 5 s', 'DeviceNotConnected');
    return {
      device: input.device,
      certSerial: '01',
      spkiSha256: 'c',
      connectedAt: 'now',
      gateway: 'gw-test',
    };
  },
  async currentSession(input: { device: string }) {
    const answer = world.gatewayAnswers.get(input.device) ?? 'none';
    world.lifecycle.push({ op: 'currentSession', device: input.device, detail: answer });
    if (answer === 'error') throw ApplicationFailure.nonRetryable('the gateway did not answer');
    return answer === 'none'
      ? null
      : { device: input.device, certSerial: '01', spkiSha256: 'c', connectedAt: 'now', gateway: 'gw-dead' };
  },
  async closeSession(input: { device: string }) {
    world.lifecycle.push({ op: 'closeSession', device: input.device });
    return true;
  },
};

let harness: WorkflowTestEnv;
beforeAll(async () => {
  harness = await startWorkflowTestEnv({ orchestrator, gateway });
});
afterAll(async () => {
  await harness?.stop();
});
beforeEach(() => {
  world.plan = undefined;
  world.refuseNew.clear();
  world.gateway = [];
  world.phases = [];
  world.states.clear();
  world.lifecycle = [];
  world.sessionFails = false;
  world.gone.clear();
  world.waitingApps.clear();
  world.gatewayGone.clear();
  world.renewAt.clear();
  world.endpointHeld.clear();
  world.batches = [];
  world.movedOnce.clear();
  world.hostRestartWait.clear();
  world.gatewayAnswers.clear();
  world.checkFailures.clear();
  world.taskQueueFailures.clear();
});

function plan(
  devices: string[],
  strategy: Partial<RolloutPlan['spec']['strategy']>,
  previousModule: DeployedVersion | null,
): RolloutPlan {
  return {
    spec: applicationSpec({ module: NEW, entry: 'main', target: { devices }, strategy }),
    targets: devices.map((device) => ({ device, taskQueue: GATEWAY_QUEUE })),
    previousModule,
  };
}

let run = 0;
function deploy(app: string) {
  return startWorkflow(harness.env.client, deployApplicationWorkflow, {
    taskQueue: WORKFLOW_QUEUE,
    workflowId: `${deployWorkflowId(app)}-${++run}`,
    args: [{ name: app, healthCheckMs: 1 }],
  });
}

/** Deploys of the new module, grouped into waves: a wave ends where the health check asks. */
function newModuleWaves(): string[][] {
  const waves: string[][] = [[]];
  for (const call of world.gateway) {
    if (call.op === 'deploy' && call.sha256 === NEW.sha256) waves[waves.length - 1]!.push(call.device);
    if (call.op === 'query' && waves[waves.length - 1]!.length > 0) waves.push([]);
  }
  return waves.filter((w) => w.length > 0).map((w) => w.sort());
}

describe('deployApplication', () => {
  it('rolls out wave by wave (Rolling, maxUnavailable 2) and ends Running on the new version', async () => {
    world.plan = plan(['d1', 'd2', 'd3', 'd4', 'd5'], { type: 'Rolling', maxUnavailable: 2 }, null);
    const result = await (await deploy('rolling')).result();
    expect(result).toEqual({ phase: 'Running' });
    expect(newModuleWaves()).toEqual([['d1', 'd2'], ['d3', 'd4'], ['d5']]);
    expect(world.phases.at(-1)).toMatchObject({ phase: 'Running', currentModule: { sha256: NEW.sha256 } });
  });

  it('sizes waves by a percentage of the targets (Canary 20%, then 40% at a time)', async () => {
    const devices = Array.from({ length: 10 }, (_, i) => `p${i}`);
    world.plan = plan(devices, { type: 'Canary', canary: '20%', maxUnavailable: '40%' }, null);
    expect(await (await deploy('percent')).result()).toEqual({ phase: 'Running' });
    expect(newModuleWaves().map((wave) => wave.length)).toEqual([2, 4, 4]);
  });

  it('rolls an updated app back to its previous version, with its own entry, and never reaches later waves', async () => {
    world.plan = plan(['d1', 'd2', 'd3'], { type: 'Rolling', maxUnavailable: 2 }, PREVIOUS);
    world.refuseNew.add('d2');
    const result = await (await deploy('update')).result();
    expect(result).toEqual({ phase: 'RolledBack' });
    expect(newModuleWaves()).toEqual([['d1', 'd2']]);
    const rollbacks = world.gateway.filter((c) => c.op === 'deploy' && c.sha256 === PREVIOUS.sha256);
    expect(rollbacks.map((c) => [c.device, c.entry]).sort()).toEqual([
      ['d1', 'old_main'],
      ['d2', 'old_main'],
    ]);
    expect(world.states.get('d3')).toEqual(['Running']); // what it reports for the version it kept
    expect(world.phases.at(-1)).toMatchObject({ phase: 'RolledBack', currentModule: PREVIOUS });
  });

  it('rolls a new app back by stopping it where it was deployed; untouched devices are RolledBack', async () => {
    world.plan = plan(['d1', 'd2', 'd3'], { type: 'Rolling', maxUnavailable: 1 }, null);
    world.refuseNew.add('d1');
    const result = await (await deploy('fresh')).result();
    expect(result).toEqual({ phase: 'RolledBack' });
    expect(world.gateway.filter((c) => c.op === 'stop').map((c) => c.device)).toEqual(['d1']);
    expect(newModuleWaves()).toEqual([['d1']]);
    expect(world.states.get('d1')).toEqual(['Deploying', 'Failed', 'RolledBack']);
    expect(world.states.get('d2')).toEqual(['RolledBack']);
    expect(world.states.get('d3')).toEqual(['RolledBack']);
  });

  it('leaves a device that is not Connected yet Pending for its lifecycle, without counting a failure', async () => {
    world.plan = plan(['d1', 'd2'], { type: 'AllAtOnce', failureThreshold: 0 }, null);
    world.plan.targets[1]!.taskQueue = null; // d2 is still provisioning
    const result = await (await deploy('joining')).result();
    expect(result).toEqual({ phase: 'Running' });
    expect(world.states.get('d1')).toEqual(['Deploying', 'Running']);
    expect(world.states.get('d2')).toEqual(['Pending']);
    expect(world.gateway.filter((c) => c.device === 'd2')).toEqual([]);
  });

  it('deploys a large wave in batches of at most 100 devices per gateway activity', async () => {
    const devices = Array.from({ length: 250 }, (_, i) => `b${String(i).padStart(3, '0')}`);
    world.plan = plan(devices, { type: 'AllAtOnce' }, null);
    expect(await (await deploy('batched')).result()).toEqual({ phase: 'Running' });
    // Three deploy batches, then three health-check batches (each three side by side).
    expect(world.batches.slice(0, 3).sort()).toEqual([100, 100, 50]);
    expect(world.batches.slice(3).sort()).toEqual([100, 100, 50]);
    for (const device of devices) expect(world.states.get(device)).toEqual(['Deploying', 'Running']);
    expect(world.phases.at(-1)).toMatchObject({ phase: 'Running' });
  });

  async function pausedCanary(app: string) {
    world.plan = plan(
      ['c1', 'c2', 'c3'],
      { type: 'Canary', canary: 1, maxUnavailable: 2, pauseAfterCanary: true },
      PREVIOUS,
    );
    const handle = await deploy(app);
    await waitFor(
      'the canary to wait for promotion',
      () => world.phases.some((p) => p.awaitingPromotion),
      5000,
      5,
    );
    expect(newModuleWaves()).toEqual([['c1']]);
    return handle;
  }

  it('aborts a paused canary: rolls the canary back, never deploys the rest', async () => {
    const handle = await pausedCanary('canary-abort');
    await workflowHandle(harness.env.client, deployApplicationWorkflow, handle.workflowId).signal(
      abortSignal,
    );
    expect(await handle.result()).toEqual({ phase: 'RolledBack' });
    expect(newModuleWaves()).toEqual([['c1']]);
    expect(
      world.gateway.filter((c) => c.op === 'deploy' && c.sha256 === PREVIOUS.sha256).map((c) => c.device),
    ).toEqual(['c1']);
  });

  it('promotes a paused canary: the rest follows in waves and the app runs everywhere', async () => {
    const handle = await pausedCanary('canary-promote');
    await handle.signal(promoteSignal);
    expect(await handle.result()).toEqual({ phase: 'Running' });
    expect(newModuleWaves()).toEqual([['c1'], ['c2', 'c3']]);
  });
});

function lifecycle(
  device: string,
  settings: { graceMs: number; maxAttempts?: number; retryBackoffMs?: number; checkIntervalMs?: number },
  workflowId = `${lifecycleWorkflowId(device)}-${++run}`,
) {
  return startWorkflow(harness.env.client, deviceLifecycleWorkflow, {
    taskQueue: WORKFLOW_QUEUE,
    workflowId,
    args: [{ name: device, checkIntervalMs: 100, ...settings }],
  });
}

/** A safety-net interval no test waits for: what happens is what a signal or a due time caused. */
const NEVER = 600_000;

/** Ends a lifecycle that waits for signals: the next check finds the device gone. */
async function endLifecycle(device: string, handle: Awaited<ReturnType<typeof lifecycle>>) {
  world.gone.add(device);
  await handle.signal(checkHealthSignal, { reason: 'test over' });
  await handle.result();
}

type Duration =
  { seconds?: number | { toNumber(): number } | null; nanos?: number | null } | null | undefined;
const durationMs = (d: Duration) =>
  (typeof d?.seconds === 'object' && d.seconds ? d.seconds.toNumber() : Number(d?.seconds ?? 0)) * 1000 +
  (d?.nanos ?? 0) / 1e6;

/** The durations of the timers a run started, in order (sleeps and condition timeouts). */
async function timers(handle: { fetchHistory(): Promise<{ events?: unknown[] | null }> }): Promise<number[]> {
  const { events } = await handle.fetchHistory();
  return (events ?? []).flatMap((e) => {
    const started = (e as { timerStartedEventAttributes?: { startToFireTimeout?: Duration } | null })
      .timerStartedEventAttributes;
    return started ? [durationMs(started.startToFireTimeout)] : [];
  });
}

describe('deviceLifecycle', () => {
  it('lets a disconnect that heals within the grace period pass without recovery', async () => {
    const handle = await lifecycle('blip', { graceMs: 60_000 });
    await handle.signal(disconnectedSignal, { gateway: 'gw-test', reason: 'link lost' });
    await waitFor('the grace timer', async () => (await timers(handle)).includes(60_000), 5000, 5);
    await handle.signal(connectedSignal, { gateway: 'gw-test' });
    world.gone.add('blip'); // the next periodic check ends the run
    await handle.result();
    expect(world.lifecycle).toEqual([]);
  });

  /** Disconnects the device, waits for its recovery to connect it, then ends the lifecycle. */
  async function recoverUntilConnected(
    device: string,
    settings: Parameters<typeof lifecycle>[1],
    reason: string,
  ) {
    const handle = await lifecycle(device, settings);
    await handle.signal(disconnectedSignal, { gateway: 'gw-test', reason });
    await waitFor('recovery', () => world.lifecycle.some((c) => c.op === 'markConnected'), 5000, 5);
    world.gone.add(device);
    await handle.result();
  }

  it('recovers a device that stays away past the grace period', async () => {
    await recoverUntilConnected('away', { graceMs: 20 }, 'link lost');
    expect(world.lifecycle.map((c) => c.op)).toEqual([
      'markRecovering',
      'relocateDevice',
      'assignGateway',
      'awaitDeviceSession',
      'markConnected',
    ]);
    expect(world.lifecycle[0]!.detail).toBe('disconnected from gw-test: link lost');
  });

  it('stops a recovery whose device came back while its endpoint was written (a host restarting after kill -9)', async () => {
    let release!: () => void;
    const held = { writing: false, release: new Promise<void>((resolve) => (release = resolve)) };
    world.endpointHeld.set('resumed', held);
    const handle = await lifecycle('resumed', { graceMs: 20, checkIntervalMs: NEVER });
    await handle.signal(disconnectedSignal, { gateway: 'gw-test', reason: 'link lost' });
    await waitFor('the endpoint write', () => held.writing, 5000, 5);
    // The restarted host resumed the device before its worker took the endpoint write.
    await handle.signal(connectedSignal, { gateway: 'gw-test' });
    release();
    // The recovery has ended once the run waits on its safety net after the grace period (20 ms):
    // the workflow task that ran markReconnected is in the history then. Not as soon as the fake
    // ran it: a local activity runs before its task completes, and ending the run at that moment
    // let the same task (which also ran the health check the disconnect had put off) find the
    // device gone and complete the run while the test's signal came in; the server refused that
    // completion (UNHANDLED_COMMAND) and the retried task ran markReconnected again. Harmless in
    // the product (it turns only an Unreachable device Connected), but not what this test counts.
    await waitFor(
      'the recovery to end',
      async () => {
        const started = await timers(handle);
        return started.slice(started.indexOf(20) + 1).some((ms) => ms > 60_000);
      },
      5000,
      5,
    );
    await endLifecycle('resumed', handle);
    // No certificate, no session wait, no apps put back: the device is Connected again as it was.
    expect(world.lifecycle.map((c) => c.op)).toEqual([
      'markRecovering',
      'relocateDevice',
      'assignGateway',
      'markReconnected',
    ]);
  });

  it('leaves a device whose host restarted lately to that host, which resumes it: no recovery', async () => {
    world.hostRestartWait.set('resuming', 60_000);
    const handle = await lifecycle('resuming', { graceMs: 20 });
    await handle.signal(disconnectedSignal, { gateway: 'gw-test', reason: 'connection reset' });
    await waitFor('the wait for the host', async () => (await timers(handle)).includes(60_000), 5000, 5);
    await handle.signal(connectedSignal, { gateway: 'gw-test' });
    await endLifecycle('resuming', handle);
    expect(world.lifecycle.map((c) => c.op)).toEqual(['hostRestartWaitMs']);
  });

  it('recovers a device its restarted host did not bring back within the wait', async () => {
    world.hostRestartWait.set('not-resumed', 30);
    await recoverUntilConnected('not-resumed', { graceMs: 20 }, 'connection reset');
    expect(world.lifecycle.map((c) => c.op)).toEqual([
      'hostRestartWaitMs',
      'markRecovering',
      'relocateDevice',
      'assignGateway',
      'awaitDeviceSession',
      'markConnected',
    ]);
  });

  it('finishes a move to a new host on the next attempt when the first failed before the volume was made', async () => {
    world.movedOnce.add('moving');
    await recoverUntilConnected('moving', { graceMs: 20, retryBackoffMs: 10 }, 'host gone');
    // The second placement says "not moved" (the device is on its new host already): the volume
    // and firmware are still made there before the endpoint.
    expect(world.lifecycle.map((c) => c.op)).toEqual([
      'markRecovering',
      'relocateDevice',
      'assignGateway',
      'prepareVolume',
      'relocateDevice',
      'assignGateway',
      'prepareVolume',
      'copyFirmware',
      'awaitDeviceSession',
      'markConnected',
    ]);
  });

  it('backs off between recovery attempts (doubling) and fails the device with the root cause', async () => {
    world.sessionFails = true;
    const handle = await lifecycle('lost', { graceMs: 20, maxAttempts: 3, retryBackoffMs: 10 });
    await handle.signal(disconnectedSignal, { gateway: 'gw-test', reason: 'link lost' });
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(((failure as WorkflowFailedError).cause as ApplicationFailure).type).toBe(
      FailureType.RecoveryFailed,
    );
    expect(world.lifecycle.filter((c) => c.op === 'awaitDeviceSession')).toHaveLength(3);
    expect(world.lifecycle.at(-1)).toEqual({
      op: 'markFailed',
      device: 'lost',
      detail: 'recovery: gave up after 3 attempts: no session within 5 s',
    });
    // The grace period, then one backoff after each failed attempt: 10, 20, 40 ms.
    expect((await timers(handle)).filter((ms) => ms !== 100)).toEqual([20, 10, 20, 40]);
  });

  const lateApp: AppToRun = {
    appId: 'late-app',
    moduleSha256: NEW.sha256,
    entry: 'main',
    limits: { memoryPages: 1, cpuMsPerCall: null },
    env: {},
    args: [],
    waiting: true,
  };

  it('ends a recovery when the device comes back by itself during a backoff', async () => {
    // E.g. its host restarted and resumed it: no new certificate, no broken session.
    world.sessionFails = true;
    const handle = await lifecycle('resumed', {
      graceMs: 20,
      retryBackoffMs: 30_000,
      checkIntervalMs: NEVER,
    });
    await handle.signal(disconnectedSignal, { gateway: 'gw-test', reason: 'host killed' });
    await waitFor('the backoff', async () => (await timers(handle)).includes(30_000), 5000, 5);
    await handle.signal(connectedSignal, { gateway: 'gw-test' });
    await waitFor(
      'the safety-net timer',
      async () => (await timers(handle)).filter((ms) => ms > 60_000).length >= 1,
      5000,
      5,
    );
    await endLifecycle('resumed', handle);
    // Connected written back: its recovery's Unreachable may have landed after the gateway's Connected.
    expect(world.lifecycle.map((c) => c.op)).toEqual([
      'markRecovering',
      'relocateDevice',
      'assignGateway',
      'awaitDeviceSession',
      'markReconnected',
    ]);
  });

  it('deploys an app its device has not had yet when the safety-net check finds one waiting', async () => {
    // Connected with nothing to run; then a rollout that ran while it was not Connected
    // leaves it an app (Pending), which the next check notices.
    const handle = await lifecycle('joined', { graceMs: 60_000 });
    await waitFor('a first check', async () => (await timers(handle)).length >= 2, 5000, 5);
    expect(world.gateway).toEqual([]);
    world.waitingApps.set('joined', [lateApp]);
    await waitFor('the app recorded Running', () => world.states.get('joined')?.includes('Running'), 5000, 5);
    world.gone.add('joined');
    await handle.result();
    expect(world.gateway).toEqual([
      { op: 'query', device: 'joined' },
      { op: 'deploy', device: 'joined', sha256: NEW.sha256, entry: 'main' },
    ]);
    expect(world.states.get('joined')).toEqual(['Running']);
  });

  it('keeps no timer but the safety net while nothing happens', async () => {
    const handle = await lifecycle('idle', { graceMs: 60_000, checkIntervalMs: NEVER });
    await waitFor('the safety-net timer', async () => (await timers(handle)).includes(NEVER), 5000, 5);
    await endLifecycle('idle', handle);
    expect(await timers(handle)).toEqual([NEVER]);
    expect(world.lifecycle).toEqual([]);
  });

  /**
   * An idle lifecycle told by the watchdog that its gateway went silent; that gateway, asked,
   * answers `answer`. Returns once `until` (an op) happened and the lifecycle ended.
   */
  async function gatewayWentSilent(device: string, answer: 'session' | 'none' | 'error', until: string) {
    const handle = await lifecycle(device, { graceMs: 60_000, checkIntervalMs: NEVER });
    await waitFor('the safety-net timer', async () => (await timers(handle)).includes(NEVER), 5000, 5);
    world.gatewayGone.add(device);
    world.gatewayAnswers.set(device, answer);
    await handle.signal(checkHealthSignal, { reason: 'gateway gw-dead went silent' });
    await waitFor(until, () => world.lifecycle.some((c) => c.op === until), 5000, 5);
    await endLifecycle(device, handle);
    return handle;
  }
  const RECOVERY = [
    'markRecovering',
    'relocateDevice',
    'assignGateway',
    'awaitDeviceSession',
    'markConnected',
  ];

  it("recovers at once when the watchdog signals that the device's gateway is gone", async () => {
    const handle = await gatewayWentSilent('orphan', 'none', 'markConnected');
    // The gateway, asked first, has no session for it.
    expect(world.lifecycle.map((c) => c.op)).toEqual(['currentSession', ...RECOVERY]);
    expect(world.lifecycle[1]!.detail).toBe('gateway gw-dead is gone');
    // No grace period (the device did not disconnect by itself) and no timer fired.
    expect((await timers(handle)).filter((ms) => ms < 60_000)).toEqual([]); // safety net only
  });

  it('leaves a device whose gateway, silent in the store, still holds its session: no recovery', async () => {
    await gatewayWentSilent('held', 'session', 'currentSession');
    expect(world.lifecycle.map((c) => c.op)).toEqual(['currentSession']);
  });

  it('recovers a device whose silent gateway does not answer the question', async () => {
    await gatewayWentSilent('mute', 'error', 'markConnected');
    expect(world.lifecycle.map((c) => c.op)).toEqual(['currentSession', ...RECOVERY]);
  });

  it('outlives checks that fail past their retries (the store unreachable): waits, doubling, and looks again', async () => {
    world.checkFailures.set('outage', 3);
    const handle = await lifecycle('outage', { graceMs: 60_000, checkIntervalMs: NEVER, retryBackoffMs: 20 });
    await waitFor('a check that works', async () => (await timers(handle)).includes(NEVER), 10_000, 5);
    expect(world.lifecycle.map((c) => c.op)).toEqual(['checkFailed', 'checkFailed', 'checkFailed']);
    // Waits of 20, 40, 80 ms between the failed checks and the next, then the safety net.
    expect(await timers(handle)).toEqual([20, 40, 80, NEVER]);
    await endLifecycle('outage', handle);
  });

  it('outlives a store that is down as it starts (a run continued as new in an outage): gives the apps once it answers', async () => {
    world.taskQueueFailures.set('restarted', 2);
    world.waitingApps.set('restarted', [lateApp]);
    const handle = await lifecycle('restarted', {
      graceMs: 60_000,
      checkIntervalMs: NEVER,
      retryBackoffMs: 20,
    });
    await waitFor(
      'the app recorded Running',
      () => world.states.get('restarted')?.includes('Running'),
      10_000,
      5,
    );
    expect(world.lifecycle.map((c) => c.op)).toEqual(['taskQueueFailed', 'taskQueueFailed']);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect(world.gateway.filter((c) => c.device === 'restarted' && c.op === 'deploy')).toHaveLength(1);
    await endLifecycle('restarted', handle);
  });

  it('still ends when its recovery gives up: the device is Failed and Retry starts anew', async () => {
    world.sessionFails = true;
    const handle = await lifecycle('hopeless', { graceMs: 10, maxAttempts: 2, retryBackoffMs: 10 });
    await handle.signal(disconnectedSignal, { gateway: 'gw-test', reason: 'link lost' });
    await expect(handle.result()).rejects.toThrow();
    expect(world.lifecycle.filter((c) => c.op === 'markFailed')).toHaveLength(1);
  });

  it('renews the certificate when its renewal window opens, on a timer set for that moment', async () => {
    world.renewAt.set('renew', Date.now() + 1500);
    const handle = await lifecycle('renew', { graceMs: 60_000, checkIntervalMs: NEVER });
    await waitFor('a renewal', () => world.lifecycle.some((c) => c.op === 'closeSession'), 10_000, 10);
    await endLifecycle('renew', handle);
    expect(world.lifecycle.map((c) => c.op)).toEqual(['assignGateway', 'issueCertificate', 'closeSession']);
    const [untilDue] = await timers(handle);
    expect(untilDue).toBeGreaterThan(0);
    expect(untilDue).toBeLessThanOrEqual(1500);
  });

  it('a rollout tells the lifecycle of a device it left Pending, which then deploys the app', async () => {
    // The lifecycle has its real ID: the rollout signals it by that.
    const handle = await lifecycle(
      'late',
      { graceMs: 60_000, checkIntervalMs: NEVER },
      lifecycleWorkflowId('late'),
    );
    await waitFor('the safety-net timer', async () => (await timers(handle)).includes(NEVER), 5000, 5);
    world.plan = plan(['d1', 'late'], { type: 'AllAtOnce' }, null);
    world.plan.targets[1]!.taskQueue = null; // not Connected while the rollout runs
    world.waitingApps.set('late', [lateApp]); // what appsForDevice finds once it is
    expect(await (await deploy('late-app')).result()).toEqual({ phase: 'Running' });
    await waitFor('the app recorded Running', () => world.states.get('late')?.includes('Running'), 5000, 5);
    await endLifecycle('late', handle);
    expect(world.states.get('late')).toEqual(['Pending', 'Running']);
    expect(world.gateway.filter((c) => c.device === 'late' && c.op === 'deploy')).toHaveLength(1);
    expect((await timers(handle)).filter((ms) => ms < 60_000)).toEqual([]); // safety net only
  });
});
