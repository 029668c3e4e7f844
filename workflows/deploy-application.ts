/**
 * deployApplication: check the module against every target → roll out wave by wave
 * (AllAtOnce, Rolling, Canary) through the gateway holding each device's session →
 * per-device acks, then a short health check → Running / PartiallyRunning; once more
 * devices fail than the threshold allows, stop and roll back what was deployed.
 */
import {
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ApplicationActivities, RolloutPlan, RolloutTarget } from '../activities/applications.js';
import type { BatchAck, GatewayActivities } from '../gateway/activities.js';
import { PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { deploySettings, versionOf } from '../common/app-version.js';
import { rootCauseMessage } from '../common/failures.js';
import { rolloutBatches, rolloutWaves } from './rollout-waves.js';
import {
  abortSignal,
  checkHealthSignal,
  lifecycleWorkflowId,
  promoteSignal,
  type DeployApplicationInput,
  type DeployApplicationResult,
  type UndeployApplicationInput,
} from './contracts/index.js';
import { Patch } from './patches.js';

/**
 * The store steps ride out a store outage of up to 15 minutes (each try during one waits 10 s for
 * a connection): ten tries were about 2.5 minutes, after which the rollout failed in the middle and
 * its Application was Failed, nothing being wrong with the app or its devices.
 */
const apps = proxyActivities<ApplicationActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '15 minutes',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
});

function gateway(taskQueue: string) {
  return proxyActivities<GatewayActivities>({
    taskQueue,
    // Long enough for a gateway restart, short enough not to wait on a dead one forever.
    scheduleToStartTimeout: '1 minute',
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: '10s',
    // A device that is reconnecting (or whose gateway restarts) gets ~40 s to come back;
    // a timeout or a refusal is final (non-retryable failures).
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 7 },
  });
}

export async function deployApplication(input: DeployApplicationInput): Promise<DeployApplicationResult> {
  const { name } = input;
  const healthCheckMs = input.healthCheckMs ?? 1500;
  let promoted = false;
  let aborted = false;
  setHandler(promoteSignal, () => {
    promoted = true;
  });
  setHandler(abortSignal, () => {
    aborted = true;
  });
  upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Deploying' }]);

  let plan;
  try {
    plan = await apps.prepareRollout(name);
  } catch (err) {
    await apps.setApplicationPhase(name, 'Failed', { message: rootCauseMessage(err) });
    upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Failed' }]);
    throw err;
  }
  const { spec, targets, previousModule } = plan;
  await apps.setApplicationPhase(name, 'Deploying', {
    workflowId: workflowInfo().workflowId,
    pendingDevices: targets.map((t) => t.device),
  });

  const deployed: RolloutTarget[] = [];
  /** Devices this rollout has tried to reach; the others still run what they ran before. */
  const contacted = new Set<string>();
  let failures = 0;
  let firstError = '';
  /** Devices left Pending (not Connected yet): their lifecycles are told when the rollout ends. */
  const pendingDevices: string[] = [];

  async function deployTo(target: RolloutTarget): Promise<boolean> {
    const fail = async (error: string) => {
      firstError ||= `${target.device}: ${error}`;
      await apps.recordAppDeviceState(name, target.device, 'Failed', error);
      return false;
    };
    if (!target.taskQueue) {
      // Runs from before this was added failed such a device; it then missed the app for good.
      if (!patched(Patch.waitForUnconnectedDevices)) {
        contacted.add(target.device);
        return fail('device has no gateway session');
      }
      // Not Connected yet (still provisioning, or recovering): it stays Pending, and its
      // lifecycle workflow deploys the app once it connects (activities/lifecycle.ts,
      // appsForDevice). Not counted as a failure; untouched if this rollout rolls back.
      await apps.recordAppDeviceState(name, target.device, 'Pending');
      pendingDevices.push(target.device);
      return true;
    }
    contacted.add(target.device);
    await apps.recordAppDeviceState(name, target.device, 'Deploying');
    try {
      const ack = await gateway(target.taskQueue).deployApplication({
        device: target.device,
        appId: name,
        name,
        ...deploySettings(versionOf(spec), spec),
        timeoutMs: input.deployTimeoutMs,
      });
      deployed.push(target);
      if (!ack.ok) return fail(ack.error ?? 'device refused the app');
      await apps.recordAppDeviceState(name, target.device, 'Running');
      return true;
    } catch (err) {
      if (isCancellation(err)) throw err;
      return fail(rootCauseMessage(err));
    }
  }

  /** After the acks, give apps a moment to crash, then ask the devices how they are. */
  async function healthCheck(wave: RolloutTarget[], okSoFar: boolean[]): Promise<number> {
    await sleep(healthCheckMs);
    let failed = 0;
    await Promise.all(
      wave.map(async (target, i) => {
        if (!okSoFar[i] || !target.taskQueue) return;
        try {
          const [app] = await gateway(target.taskQueue).queryApplicationStatus({
            device: target.device,
            appId: name,
          });
          if (app?.state === 'Failed') {
            failed++;
            firstError ||= `${target.device}: ${app.error}`;
            await apps.recordAppDeviceState(name, target.device, 'Failed', app.error);
          }
        } catch (err) {
          if (isCancellation(err)) throw err;
          failed++;
          await apps.recordAppDeviceState(name, target.device, 'Failed', rootCauseMessage(err));
        }
      }),
    );
    return failed;
  }

  /**
   * A wave in batches: per gateway, up to ROLLOUT_BATCH_SIZE devices per activity, and one store
   * write per batch and step. (A wave of 1,000 single-device activities was thousands of
   * commands in one workflow task, and a task per activity, which a loaded server could not
   * schedule in time.) The same outcome per device as deployTo.
   */
  async function deployWave(wave: RolloutTarget[]): Promise<boolean[]> {
    const ok = new Map<string, boolean>();
    const unconnected = wave.filter((t) => !t.taskQueue);
    if (unconnected.length > 0) {
      // As in deployTo: Pending for its lifecycle, not a failure.
      await apps.recordAppDeviceStates(
        name,
        unconnected.map((t) => ({ device: t.device, state: 'Pending' as const })),
      );
      for (const t of unconnected) {
        ok.set(t.device, true);
        pendingDevices.push(t.device);
      }
    }
    await Promise.all(
      rolloutBatches(wave.filter((t) => t.taskQueue)).map(async (batch) => {
        for (const t of batch) contacted.add(t.device);
        const devices = batch.map((t) => t.device);
        await apps.recordAppDeviceStates(
          name,
          devices.map((device) => ({ device, state: 'Deploying' as const })),
        );
        let acks: BatchAck[];
        try {
          acks = await gateway(batch[0]!.taskQueue!).deployApplicationToMany({
            devices,
            appId: name,
            name,
            ...deploySettings(versionOf(spec), spec),
            timeoutMs: input.deployTimeoutMs,
          });
        } catch (err) {
          if (isCancellation(err)) throw err;
          const error = rootCauseMessage(err);
          acks = devices.map((device) => ({ device, ok: false, error, reached: false }));
        }
        for (const [i, ack] of acks.entries()) {
          if (ack.reached) deployed.push(batch[i]!);
          ok.set(ack.device, ack.ok);
          if (!ack.ok) firstError ||= `${ack.device}: ${ack.error ?? 'device refused the app'}`;
        }
        await apps.recordAppDeviceStates(
          name,
          acks.map((ack) => ({
            device: ack.device,
            state: ack.ok ? ('Running' as const) : ('Failed' as const),
            error: ack.ok ? null : (ack.error ?? 'device refused the app'),
          })),
        );
      }),
    );
    return wave.map((t) => ok.get(t.device) ?? false);
  }

  /** healthCheck in batches: one status query per batch, one store write for its failures. */
  async function healthCheckWave(wave: RolloutTarget[], okSoFar: boolean[]): Promise<number> {
    await sleep(healthCheckMs);
    const asked = wave.filter((t, i) => okSoFar[i] && t.taskQueue);
    const failedCounts = await Promise.all(
      rolloutBatches(asked).map(async (batch) => {
        const devices = batch.map((t) => t.device);
        let statuses;
        try {
          statuses = await gateway(batch[0]!.taskQueue!).queryApplicationStatusOfMany({
            devices,
            appId: name,
          });
        } catch (err) {
          if (isCancellation(err)) throw err;
          const error = rootCauseMessage(err);
          statuses = devices.map((device) => ({ device, apps: null, error }));
        }
        const failed: { device: string; state: 'Failed'; error: string | null }[] = [];
        for (const status of statuses) {
          const app = status.apps?.[0];
          if (status.error !== null)
            failed.push({ device: status.device, state: 'Failed', error: status.error });
          else if (app?.state === 'Failed') {
            firstError ||= `${status.device}: ${app.error}`;
            failed.push({ device: status.device, state: 'Failed', error: app.error });
          }
        }
        if (failed.length > 0) await apps.recordAppDeviceStates(name, failed);
        return failed.length;
      }),
    );
    return failedCounts.reduce((a, b) => a + b, 0);
  }

  // Runs from before batches deploy device by device on replay.
  const inBatches = patched(Patch.rolloutInBatches);
  const waves = rolloutWaves(targets, spec.strategy);
  for (const [index, wave] of waves.entries()) {
    const results = inBatches ? await deployWave(wave) : await Promise.all(wave.map(deployTo));
    failures += results.filter((ok) => !ok).length;
    failures += inBatches ? await healthCheckWave(wave, results) : await healthCheck(wave, results);
    if (failures > spec.strategy.failureThreshold) {
      // The untouched first: the RolledBack phase that rollBack sets ends the rollout for readers.
      await settleUntouched(
        name,
        targets.filter((t) => !contacted.has(t.device)),
        previousModule,
      );
      await rollBack(
        name,
        spec,
        previousModule,
        deployed,
        `${failures} of ${targets.length} devices failed (threshold ${spec.strategy.failureThreshold}); first: ${firstError}`,
      );
      return { phase: 'RolledBack' };
    }
    const lastWave = index === waves.length - 1;
    if (spec.strategy.type === 'Canary' && index === 0 && spec.strategy.pauseAfterCanary && !lastWave) {
      await apps.setApplicationPhase(name, 'Deploying', {
        message: 'canary healthy; waiting for promote or abort',
        awaitingPromotion: true,
      });
      await condition(() => promoted || aborted);
      if (aborted) {
        await settleUntouched(
          name,
          targets.filter((t) => !contacted.has(t.device)),
          previousModule,
        );
        await rollBack(name, spec, previousModule, deployed, 'aborted by an operator after the canary');
        return { phase: 'RolledBack' };
      }
      await apps.setApplicationPhase(name, 'Deploying', { message: 'promoted' });
    }
  }

  const phase = failures === 0 ? 'Running' : 'PartiallyRunning';
  await apps.setApplicationPhase(name, phase, {
    message: failures ? firstError : undefined,
    currentModule: versionOf(spec),
  });
  upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: phase }]);
  // The devices left Pending get the app from their lifecycles, now that it is Running: told at
  // once instead of at their next check.
  if (pendingDevices.length > 0 && patched(Patch.signalPendingDevices)) {
    await Promise.all(
      pendingDevices.map((device) =>
        getExternalWorkflowHandle(lifecycleWorkflowId(device))
          .signal(checkHealthSignal, { reason: `application ${name} is waiting for it` })
          .catch((err: unknown) => {
            // No lifecycle yet (still provisioning): it reconciles its apps when it starts.
            if (isCancellation(err)) throw err;
          }),
      ),
    );
  }
  return { phase };
}

/**
 * After a rollback, the devices the rollout never reached no longer await it: with an earlier
 * version they report how that version runs (they kept it), without one they have nothing.
 */
async function settleUntouched(
  name: string,
  untouched: RolloutTarget[],
  previousModule: RolloutPlan['previousModule'],
): Promise<void> {
  // Runs that were already past this point when it was added keep their recorded history.
  if (!patched(Patch.settleUntouchedDevices)) return;
  await Promise.all(
    untouched.map(async (target) => {
      // The store keeps no RolledBack of a device nothing was deployed to: it has no entry
      // (common/awaiting-rollout.ts, rolledBackEntry).
      if (!previousModule) return apps.recordAppDeviceState(name, target.device, 'RolledBack');
      if (!target.taskQueue) return; // unreachable now: the lifecycle workflow reconciles it later
      try {
        const [app] = await gateway(target.taskQueue).queryApplicationStatus({
          device: target.device,
          appId: name,
        });
        if (app) await apps.recordAppDeviceState(name, target.device, app.state, app.error);
      } catch (err) {
        if (isCancellation(err)) throw err;
      }
    }),
  );
}

/**
 * Undoes a failing rollout where it got to: devices go back to the previous version of an
 * updated application, or stop the app when there is none.
 */
async function rollBack(
  name: string,
  spec: RolloutPlan['spec'],
  previousModule: RolloutPlan['previousModule'],
  deployed: RolloutTarget[],
  message: string,
): Promise<void> {
  await Promise.all(
    deployed.map(async (target) => {
      const device = gateway(target.taskQueue!);
      let state: 'Running' | 'RolledBack' | 'Failed' = previousModule ? 'Running' : 'RolledBack';
      let error: string | null = null;
      try {
        if (previousModule) {
          // The whole previous version: its module with its own entry, env, args and limits.
          const ack = await device.deployApplication({
            device: target.device,
            appId: name,
            name,
            ...deploySettings(previousModule, spec),
          });
          if (!ack.ok) {
            state = 'Failed';
            error = `rollback refused by the device: ${ack.error ?? 'no reason given'}`;
          }
        } else {
          await device.stopApplication({ device: target.device, appId: name });
        }
      } catch (err) {
        if (isCancellation(err)) throw err;
        // A device we cannot reach keeps its state; the lifecycle workflow reconciles it later.
      }
      await apps.recordAppDeviceState(name, target.device, state, error);
    }),
  );
  const to = previousModule
    ? `the previous version (${previousModule.sha256.slice(0, 12)})`
    : 'nothing (stopped)';
  await apps.setApplicationPhase(name, 'RolledBack', {
    message: `rolled back to ${to}: ${message}`,
    ...(previousModule ? { currentModule: previousModule } : {}),
  });
  upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'RolledBack' }]);
}

/**
 * Stops the app on every device that has it, then forgets the Application — or, with
 * `keep`, leaves it Stopped (`POST /applications/:name/stop`).
 */
export async function undeployApplication(input: UndeployApplicationInput): Promise<void> {
  const { name } = input;
  upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Stopped' }]);
  const targets = await apps.deployedTargets(name);
  await Promise.all(
    targets.map(async (target) => {
      if (!target.taskQueue) return;
      try {
        await gateway(target.taskQueue).stopApplication({ device: target.device, appId: name });
      } catch (err) {
        if (isCancellation(err)) throw err;
        // An unreachable device drops the app when it is next reconciled.
      }
    }),
  );
  if (!input.keep) {
    await apps.forgetApplication(name);
    return;
  }
  // The store keeps no Stopped where the app never ran (a new app's devices a paused canary had
  // not reached, one left Pending): no entry (common/awaiting-rollout.ts, stoppedEntry).
  for (const target of targets) await apps.recordAppDeviceState(name, target.device, 'Stopped');
  await apps.setApplicationPhase(name, 'Stopped', { message: 'stopped by an operator' });
}
