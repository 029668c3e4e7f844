/**
 * deviceLifecycle: one long-lived workflow per device (`lifecycle-<device>`), started by
 * provisioning. Gateways signal connect/disconnect; the liveness watchdog signals a check when
 * the device's gateway or host goes silent; a timer renews the certificate when it is due, and a
 * slow safety-net check catches whatever no one signalled. Recovery restarts the emulator if needed, points it at a live gateway,
 * awaits the session and puts its apps back, with backoff and a cap after which the
 * device is Failed with the reason. History is bounded by continue-as-new.
 */
import {
  ApplicationFailure,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  setHandler,
} from '@temporalio/workflow';
import type { ApplicationActivities } from '../activities/applications.js';
import type { DeviceRuntimeActivities } from '../activities/device-runtime.js';
import type { LifecycleActivities } from '../activities/lifecycle.js';
import type { OrchestratorActivities } from '../activities/orchestrator.js';
import type { GatewayActivities } from '../gateway/activities.js';
import { FailureType, rootCauseMessage } from '../common/failures.js';
import { PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import {
  checkHealthSignal,
  connectedSignal,
  disconnectedSignal,
  rotateCertificateSignal,
  type DeviceLifecycleInput,
} from './contracts/index.js';
import { Patch } from './patches.js';

type LifecycleStoreActivities = LifecycleActivities & OrchestratorActivities & ApplicationActivities;
const storeActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 3 },
} as const;
/**
 * The store checks (health every checkIntervalMs, for every device) run as local activities: a
 * marker in the timer's own workflow task instead of an activity task and a second workflow
 * task each — with a thousand devices that is most of what idle devices cost the server.
 * Histories from before run them as activities (the patch below).
 */
const localActivities = proxyLocalActivities<LifecycleStoreActivities>(storeActivityOptions);
const remoteActivities = proxyActivities<LifecycleStoreActivities>(storeActivityOptions);
/** Histories from before device keys were made on the host ran the certificate steps here. */
const legacyLocalPki = proxyLocalActivities<DeviceRuntimeActivities>(storeActivityOptions);
const legacyRemotePki = proxyActivities<DeviceRuntimeActivities>(storeActivityOptions);

/** The device host that owns the device: where its emulator is started and its memory written. */
function host(taskQueue: string | undefined) {
  return proxyActivities<DeviceRuntimeActivities>({
    taskQueue,
    // The host's worker respawns a dead host within seconds; longer means the machine is gone.
    scheduleToStartTimeout: '30s',
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 3 },
  });
}

function gateway(taskQueue: string) {
  return proxyActivities<GatewayActivities>({
    taskQueue,
    // A gateway that died leaves its queue without a worker: give up soon and re-plan.
    scheduleToStartTimeout: '10s',
    startToCloseTimeout: '30s',
    heartbeatTimeout: '10s',
    retry: { initialInterval: '1s', maximumAttempts: 2 },
  });
}

/**
 * Asks a gateway whether it holds the device's session (before recovering a device the store
 * says its gateway lost): answered at once by a live gateway, not at all by a dead one — so a
 * short wait and no retry, and no answer counts as "gone".
 */
function sessionProbe(taskQueue: string) {
  return proxyActivities<GatewayActivities>({
    taskQueue,
    scheduleToStartTimeout: '5s',
    startToCloseTimeout: '10s',
    retry: { maximumAttempts: 1 },
  });
}

/** The longest wait before looking again after a step failed past its retries (the wait doubles). */
const MAX_FAILED_STEP_WAIT_MS = 5 * 60_000;

/** The recovery's own end: the device is Failed, and only Retry (a new provisioning run) goes on. */
function isRecoveryGaveUp(err: unknown): boolean {
  return err instanceof ApplicationFailure && err.type === FailureType.RecoveryFailed;
}

/** After a renewal, when to look up the new certificate's renewal time. */
const RECHECK_AFTER_RENEWAL_MS = 30_000;

export async function deviceLifecycle(input: DeviceLifecycleInput): Promise<void> {
  const { name } = input;
  const localChecks = patched(Patch.lifecycleLocalActivities);
  const activities = localChecks ? localActivities : remoteActivities;
  const legacyPki = localChecks ? legacyLocalPki : legacyRemotePki;
  const checkIntervalMs = input.checkIntervalMs ?? 10_000;
  const graceMs = input.graceMs ?? 5_000;
  const maxAttempts = input.maxAttempts ?? 6;
  const retryBackoffMs = input.retryBackoffMs ?? 1000;
  let connected = true;
  let rotateRequested = false;
  let lostBecause = '';
  setHandler(rotateCertificateSignal, () => {
    rotateRequested = true;
  });
  setHandler(connectedSignal, () => {
    connected = true;
  });
  setHandler(disconnectedSignal, (event) => {
    connected = false;
    lostBecause = `disconnected from ${event.gateway}: ${event.reason}`;
  });

  async function recover(): Promise<void> {
    upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Unreachable' }]);
    await activities.markRecovering(name, lostBecause);
    let lastError = lostBecause;
    // A device that comes back by itself meanwhile (its host restarted and resumed it, its link
    // healed) is recovered: going on would only give it a new certificate and break the session
    // it has — with a killed host's hundreds of devices, the churn that made the tail minutes long.
    const endsWhenReconnected = patched(Patch.recoveryEndsWhenReconnected);
    // Histories from before re-check once more after the endpoint (below), and write Connected
    // back when the device returned: markRecovering may have run just after the gateway wrote
    // Connected for the returning device, and nothing else would have undone its Unreachable.
    const recheckAfterEndpoint = endsWhenReconnected && patched(Patch.recoveryRechecksAfterEndpoint);
    const backInTheMeantime = async () => {
      if (!endsWhenReconnected || !connected) return false;
      upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Connected' }]);
      if (recheckAfterEndpoint) await activities.markReconnected(name);
      return true;
    };
    // A move is finished once the new host has the volume and firmware: an attempt that failed
    // before that leaves it to the next, whose placement already says "not moved" (the device is
    // on its new, live host) — histories from before let it go, and the device, with no firmware
    // on its new host, failed every attempt after.
    const remembersMove = patched(Patch.recoveryRemembersMove);
    let moveUnfinished = false;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (await backInTheMeantime()) return;
      try {
        // Its host first: a device whose host died (silent beyond the grace period) moves to a
        // live one, where its volume, key and firmware are made anew; a new key gets a new
        // certificate and the old one is revoked.
        const fenced = patched(Patch.deviceHostsFenced);
        const placed = fenced ? await activities.relocateDevice(name) : undefined;
        if (placed?.moved) moveUnfinished = true;
        const moved = remembersMove ? moveUnfinished : placed?.moved === true;
        // The endpoint next: a restarted device reads it as it boots.
        const target = await activities.assignGateway(name);
        // (Histories from before device hosts have no target.host: their runtime activities ran
        // on this queue, and replay schedules them the same way.)
        const runtime = host(placed?.taskQueue ?? target.host?.taskQueue);
        // (Still unchanged on the device up to here: the last moment to let it be.)
        if (!moved && (await backInTheMeantime())) return;
        if (moved) {
          await runtime.prepareVolume(name);
          await runtime.copyFirmware(name);
          moveUnfinished = false;
        }
        await runtime.writeEndpoint(name, target.endpoint);
        // A host restarting after kill -9 takes the endpoint only once it is up again, and by then
        // it has resumed its devices: one back already needs no certificate check, no session
        // wait and no apps put back — with hundreds of them, work that kept the CPU from the rest.
        if (recheckAfterEndpoint && !moved && (await backInTheMeantime())) return;
        await runtime.ensureEmulator(name);
        const identity = fenced
          ? await runtime.issueCertificate(name)
          : await legacyPki.issueCertificate(name);
        await gateway(target.taskQueue).awaitDeviceSession({ device: name, certSerial: identity.certSerial });
        await activities.markConnected(name, target, identity);
        connected = true;
        upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Connected' }]);
        await restoreApps(target.taskQueue);
        return;
      } catch (err) {
        if (isCancellation(err)) throw err;
        lastError = rootCauseMessage(err);
        const backoffMs = Math.min(30_000, retryBackoffMs * 2 ** (attempt - 1));
        if (endsWhenReconnected) await condition(() => connected, backoffMs);
        else await sleep(backoffMs);
      }
    }
    upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Failed' }]);
    await activities.markFailed(name, 'recovery', `gave up after ${maxAttempts} attempts: ${lastError}`);
    throw ApplicationFailure.nonRetryable(
      `recovery of ${name} failed: ${lastError}`,
      FailureType.RecoveryFailed,
    );
  }

  /**
   * New certificate and credentials block, then the session is closed so the device
   * reconnects with them; its emulator and apps keep running. `force`: even before the
   * renewal window (an operator's request).
   */
  async function rotateCertificate(force: boolean): Promise<void> {
    const onHost = patched(Patch.deviceKeysOnHost);
    const target = onHost ? await activities.assignGateway(name) : undefined;
    const pki = onHost ? host(target!.host?.taskQueue) : legacyPki;
    const identity = force ? await pki.replaceCertificate(name) : await pki.issueCertificate(name);
    const assigned = target ?? (await activities.assignGateway(name));
    await host(assigned.host?.taskQueue).writeEndpoint(name, assigned.endpoint);
    await gateway(assigned.taskQueue).closeSession({
      device: name,
      reason: `certificate rotated to ${identity.certSerial}`,
    });
  }

  /** Puts back the apps the device should run and does not (a restarted emulator has none). */
  async function restoreApps(taskQueue: string): Promise<void> {
    const wanted = await activities.appsForDevice(name);
    if (wanted.length === 0) return;
    const device = gateway(taskQueue);
    const running = await device.queryApplicationStatus({ device: name });
    // An app the device is starting by itself (a restarted host boots its devices' apps from
    // their flash) is not deployed again: after a kill -9 that doubled the host's work for
    // every device whose recovery reached here before its app was up.
    const has = patched(Patch.restoreAppsKeepsStartingApps)
      ? (state: string) => state === 'Running' || state === 'Exited' || state === 'Deploying'
      : (state: string) => state === 'Running' || state === 'Exited';
    for (const app of wanted) {
      const current = running.find((r) => r.appId === app.appId);
      if (current && has(current.state)) {
        // It has it already (a rollout reached it after all): the status catches up.
        if (app.waiting) await activities.recordAppDeviceState(app.appId, name, current.state);
        continue;
      }
      const ack = await device.deployApplication({ device: name, name: app.appId, ...app });
      await activities.recordAppDeviceState(app.appId, name, ack.ok ? 'Running' : 'Failed', ack.error);
    }
  }

  /** Gives the device the apps it should run; a failure is left to the next check or recovery. */
  async function reconcileApps(): Promise<void> {
    const taskQueue = await activities.deviceTaskQueue(name);
    if (!taskQueue) return;
    try {
      await restoreApps(taskQueue);
    } catch (err) {
      if (isCancellation(err)) throw err;
    }
  }

  // A device that joins (or comes back) gets the apps whose target covers it: at once in runs
  // from before, in the loop below (whose failed steps wait and try again) in runs from now — a
  // run that began with the store down, continued as new during an outage, failed right here and
  // left its device watched by nothing.
  let reconcileAtStart = patched(Patch.lifecycleStartOutlivesStore);
  if (!reconcileAtStart) await reconcileApps();

  async function gatewayHoldsSession(taskQueue: string): Promise<boolean> {
    try {
      return (await sessionProbe(taskQueue).currentSession({ device: name })) !== null;
    } catch (err) {
      if (isCancellation(err)) throw err;
      return false; // no answer in time: the gateway is gone after all
    }
  }

  /** Acts on one health check; false when the device is gone and the lifecycle ends. */
  async function checkNow(): Promise<{ gone: boolean; renewed?: boolean; renewAt?: number }> {
    const health = await activities.checkDeviceHealth(name);
    if (health.gone) return { gone: true };
    if (health.rotateCertificate) await rotateCertificate(false);
    // An app it has not had yet: a rollout that ran while it was not Connected left it
    // Pending, or the rollout was still going when this workflow started.
    if (health.appsWaiting && !health.needsRecovery) await reconcileApps();
    // What the store says of a live gateway lags its writes: one still holding the session is
    // asked before the device is taken from it (DeviceHealth.confirmWithGateway says why).
    // Histories from before recover at once.
    const stillHeld =
      health.needsRecovery &&
      health.confirmWithGateway !== undefined &&
      patched(Patch.recoveryAsksGatewayFirst) &&
      (await gatewayHoldsSession(health.confirmWithGateway));
    if (health.needsRecovery && !stillHeld) {
      connected = false;
      lostBecause = health.reason ?? 'unknown';
      await recover();
    }
    return { gone: false, renewed: health.rotateCertificate, renewAt: health.renewAt };
  }

  const continueIfLong = async () => {
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2000) {
      await continueAsNew<typeof deviceLifecycle>(input);
    }
  };

  if (patched(Patch.lifecycleEventDriven)) {
    // No timer per device doing the watching: gateways signal connect/disconnect, the liveness
    // watchdog (workers/liveness-watchdog.ts) signals checkHealth when the device's gateway or
    // host goes silent, a rollout signals the devices it left Pending. The only timers are the
    // certificate's renewal time and the slow safety net (checkIntervalMs, minutes) — with a
    // thousand devices a 10 s check each was most of what an idle platform cost.
    let checkRequested = true; // the first check learns when the certificate is due
    setHandler(checkHealthSignal, () => {
      checkRequested = true;
    });
    let nextCheckAt = Date.now() + checkIntervalMs;
    let renewAt = Infinity;
    // A device whose host restarted lately is left to that host, which resumes it, for the rest
    // of the host's grace period (hostRestartWaitMs says why); histories from before recover
    // after graceMs whatever the host.
    const waitsForRestartingHost = patched(Patch.recoveryWaitsForRestartingHost);
    const backByItself = async (): Promise<boolean> => {
      if (await condition(() => connected, graceMs)) return true;
      if (!waitsForRestartingHost) return false;
      const hostWaitMs = await activities.hostRestartWaitMs(name);
      return hostWaitMs > 0 && (await condition(() => connected, hostWaitMs));
    };
    let failedInARow = 0;
    for (;;) {
      const woken = () => !connected || rotateRequested || checkRequested;
      // (No timer at all when a signal is waiting already.)
      if (!woken()) await condition(woken, Math.max(1, Math.min(nextCheckAt, renewAt) - Date.now()));
      let forcedRotation = false;
      try {
        if (reconcileAtStart) {
          await reconcileApps();
          reconcileAtStart = false;
        }
        if (rotateRequested && connected) {
          rotateRequested = false;
          forcedRotation = true;
          await rotateCertificate(true);
        } else if (!connected) {
          // Link blips heal by themselves: the device reconnects with backoff.
          if (await backByItself()) continue;
          await recover();
        } else {
          checkRequested = false;
          const result = await checkNow();
          if (result.gone) return;
          nextCheckAt = Date.now() + checkIntervalMs;
          // Just renewed: the next check learns the new certificate's window (soon, not at once,
          // so a validity shorter than the renewal window cannot spin).
          renewAt = result.renewed
            ? Date.now() + Math.min(checkIntervalMs, RECHECK_AFTER_RENEWAL_MS)
            : (result.renewAt ?? Infinity);
        }
        failedInARow = 0;
      } catch (err) {
        // A step that failed past its retries — the store unreachable for longer than they last
        // (about 30 s), a gateway gone while it closed a session for a rotation — ended the
        // lifecycle, and with it everything that watches, recovers and renews the device, for
        // good. Now the lifecycle waits and looks again; only a recovery that gave up (the device
        // is Failed: Retry starts anew) and cancellation end it. Histories from before failed.
        if (isCancellation(err) || isRecoveryGaveUp(err) || !patched(Patch.lifecycleOutlivesFailedSteps))
          throw err;
        if (forcedRotation) rotateRequested = true; // the operator's request still stands
        checkRequested = true;
        await sleep(Math.min(MAX_FAILED_STEP_WAIT_MS, retryBackoffMs * 2 ** failedInARow++));
      }
      await continueIfLong();
    }
  }

  for (;;) {
    const woke = await condition(() => !connected || rotateRequested, checkIntervalMs);
    if (woke && rotateRequested && connected) {
      rotateRequested = false;
      await rotateCertificate(true);
    } else if (woke) {
      // Link blips heal by themselves: the device reconnects with backoff.
      if (await condition(() => connected, graceMs)) continue;
      await recover();
    } else if ((await checkNow()).gone) {
      return;
    }
    await continueIfLong();
  }
}
