/**
 * Orchestrator activities for applications: resolve a rollout's targets and check the
 * module against each of them, and record phases and per-device states.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { counter } from '../common/metrics.js';
import { deviceState, summarize, targetsDevice } from '../common/application-status.js';
import { awaitingRollout, entryToRecord, rolloutOver } from '../common/awaiting-rollout.js';
import { gatewayTaskQueue } from '../common/config.js';
import { NotFoundError, ValidationError } from '../common/errors.js';
import { FailureType, toApplicationFailure } from '../common/failures.js';
import type { AppDeviceState, Application, ApplicationPhase, DeployedVersion } from '../common/resources.js';
import { deployMessageMisfit, moduleMisfit } from '../device/apps/fit.js';
import type { ModuleStore } from '../store/module-store.js';
import type { ResourceStore } from '../store/resource-store.js';

export interface RolloutTarget {
  device: string;
  /** The gateway task queue of the device's session, or null when it has none. */
  taskQueue: string | null;
}

export interface RolloutPlan {
  spec: Application['spec'];
  targets: RolloutTarget[];
  /** The version to roll back to — what the devices ran — when this rollout is an update. */
  previousModule: DeployedVersion | null;
}

function invalid(field: string, message: string): ApplicationFailure {
  return toApplicationFailure(new ValidationError(field, message));
}

/** Phases a rollout ends in (a later deploy starts a new rollout). */
const FINAL_PHASES = new Set<ApplicationPhase>([
  'Running',
  'PartiallyRunning',
  'Failed',
  'RolledBack',
  'Stopped',
]);

/**
 * Takes a deleted device out of every Application's status — its state there, and so the counts
 * and the phase — as deleting the device does (activities/orchestrator.ts, deleteDevice). Left
 * in, an app kept counting it as targeted, and one it was Pending on stayed PartiallyRunning for
 * good. Idempotent.
 */
export async function forgetDeviceInApplications(store: ResourceStore, device: string): Promise<void> {
  for (const app of await store.list('Application')) {
    if (!(device in app.status.devices)) continue;
    try {
      await store.updateStatus('Application', app.metadata.name, (s) => {
        const { [device]: _gone, ...devices } = s.devices;
        return summarize({ ...s, devices });
      });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err; // (the application went meanwhile)
    }
  }
}

export function createApplicationActivities(deps: { store: ResourceStore; modules: ModuleStore }) {
  const { store, modules } = deps;
  const rollouts = counter({
    name: 'wasmbed_rollouts_total',
    help: 'Rollouts started (targets resolved and the module checked), by strategy',
    labelNames: ['strategy'] as const,
  });
  const rolloutsEnded = counter({
    name: 'wasmbed_rollouts_ended_total',
    help: 'Rollouts that reached a final phase, by phase',
    labelNames: ['phase'] as const,
  });

  /**
   * The devices' states on the Application in one write, then on each device. A device deleted
   * meanwhile (its Device gone) is left out, not written back into the Application that its
   * deletion took it out of; an application deleted meanwhile fails the write before any device
   * gets a state of an app that is gone. A RolledBack or a Stopped of a device the app never ran
   * on is not one (entryToRecord): it keeps what it had, or loses its entry on both sides.
   */
  async function recordOnDevices(name: string, entries: [string, AppDeviceState][]): Promise<void> {
    const present: [string, AppDeviceState][] = [];
    for (const entry of entries) if (await store.get('Device', entry[0])) present.push(entry);
    if (present.length === 0) return;
    /** Each device's entry as written on the Application (null: none). */
    let written: [string, AppDeviceState, AppDeviceState | null][] = [];
    await store.updateStatus('Application', name, (s) => {
      written = present.map(([device, entry]) => [device, entry, entryToRecord(s.devices[device], entry)]);
      const devices = { ...s.devices };
      for (const [device, , entry] of written) {
        if (entry) devices[device] = entry;
        else delete devices[device];
      }
      return summarize({ ...s, devices });
    });
    for (const [device, recorded, entry] of written) {
      // (An entry kept as it was is the device's own: its Device has it already.)
      if (entry === null) await forgetOnDevice(name, device);
      else if (entry === recorded) {
        try {
          await store.updateStatus('Device', device, (s) => ({ ...s, apps: { ...s.apps, [name]: entry } }));
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
      }
    }
    // The application deleted since its write above (a stop racing a delete): the delete's last
    // pass over the devices may have come before these writes, so take them back out here.
    if (!(await store.get('Application', name))) {
      await forgetOnDevices(name, new Set(present.map(([device]) => device)));
    }
  }

  /** Takes the application's state off the devices that have one (of `only`, when given). */
  async function forgetOnDevices(name: string, only?: Set<string>): Promise<void> {
    for (const device of await store.list('Device')) {
      if (!(name in device.status.apps) || (only && !only.has(device.metadata.name))) continue;
      await forgetOnDevice(name, device.metadata.name);
    }
  }

  async function forgetOnDevice(name: string, device: string): Promise<void> {
    try {
      await store.updateStatus('Device', device, (s) => {
        if (!(name in s.apps)) return s;
        const { [name]: _gone, ...apps } = s.apps;
        return { ...s, apps };
      });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err; // (the device went meanwhile)
    }
  }

  async function application(name: string): Promise<Application> {
    const app = await store.get('Application', name);
    if (!app) throw ApplicationFailure.nonRetryable(`application "${name}" not found`, FailureType.NotFound);
    return app;
  }

  return {
    /** Resolves targets and checks the module fits every one of them; bad input fails for good. */
    async prepareRollout(name: string): Promise<RolloutPlan> {
      const app = await application(name);
      const { target } = app.spec;
      const devices = await store.list('Device');
      const missing = (target.devices ?? []).filter((d) => !devices.some((x) => x.metadata.name === d));
      if (missing.length > 0) throw invalid('target.devices', `unknown devices: ${missing.join(', ')}`);
      const chosen = devices.filter((d) => targetsDevice(target, d));
      if (chosen.length === 0) throw invalid('target', 'the target matches no device');
      const bytes = await modules.get(app.spec.module.sha256);
      const misfit = moduleMisfit(bytes, app.spec, chosen);
      if (misfit) throw invalid('module', misfit);
      const tooLarge = deployMessageMisfit(bytes, { ...app.spec, name }, chosen);
      if (tooLarge) throw invalid('env', tooLarge);
      rollouts.inc({ strategy: app.spec.strategy.type });
      return {
        // What the devices ran before, even when it is the version this rollout deploys again (a
        // change of strategy or target only, the same spec rerun): taken for no version at all, a
        // failing or aborted rollout stopped a working app on every device it had reached.
        previousModule: app.status.previousModule ?? null,
        spec: app.spec,
        targets: chosen.map((d) => ({
          device: d.metadata.name,
          taskQueue: d.status.gateway ? gatewayTaskQueue(d.status.gateway.name) : null,
        })),
      };
    },

    async setApplicationPhase(
      name: string,
      phase: ApplicationPhase,
      options: {
        message?: string;
        workflowId?: string;
        /** The rollout's targets, as it starts: each awaits it until reached (common/awaiting-rollout.ts). */
        pendingDevices?: string[];
        currentModule?: DeployedVersion;
        /** Set only while a canary waits for promote/abort; any later phase change clears it. */
        awaitingPromotion?: boolean;
      } = {},
    ): Promise<void> {
      await application(name); // a deleted application is not an error to retry
      if (FINAL_PHASES.has(phase)) rolloutsEnded.inc({ phase });
      await store.updateStatus('Application', name, (s) => {
        let devices = { ...s.devices };
        // The targets keep the state of what they run until the rollout reaches them.
        for (const device of options.pendingDevices ?? [])
          devices[device] = awaitingRollout(s.devices[device]);
        if (FINAL_PHASES.has(phase)) {
          // (A device a rollback could not reach, say: it goes on with what it had.)
          devices = Object.fromEntries(Object.entries(devices).map(([d, entry]) => [d, rolloutOver(entry)]));
        }
        return summarize({
          ...s,
          phase,
          devices,
          message: options.message,
          awaitingPromotion: options.awaitingPromotion || undefined,
          workflowId: options.workflowId ?? s.workflowId,
          currentModule: options.currentModule ?? s.currentModule,
        });
      });
    },

    async recordAppDeviceState(
      name: string,
      device: string,
      state: AppDeviceState['state'],
      error: string | null = null,
    ): Promise<void> {
      await recordOnDevices(name, [[device, deviceState(state, error)]]);
    },

    /**
     * recordAppDeviceState for a rollout's batch: one write of the Application for all of them
     * (it holds every device's state, so a write per device grew with the fleet squared).
     */
    async recordAppDeviceStates(
      name: string,
      states: { device: string; state: AppDeviceState['state']; error?: string | null }[],
    ): Promise<void> {
      await recordOnDevices(
        name,
        states.map((s) => [s.device, deviceState(s.state, s.error ?? null)]),
      );
    },

    /** The devices an application was rolled out to, with where their sessions are now. */
    async deployedTargets(name: string): Promise<RolloutTarget[]> {
      const app = await store.get('Application', name);
      if (!app) return [];
      return Promise.all(
        Object.keys(app.status.devices).map(async (device) => {
          const gw = (await store.get('Device', device))?.status.gateway;
          return { device, taskQueue: gw ? gatewayTaskQueue(gw.name) : null };
        }),
      );
    },

    /**
     * The devices first, so none still shows the app once the Application is gone; then once
     * more after the delete, for a state a concurrent rollout or stop wrote in between (one it
     * writes later, it takes back itself: recordOnDevices). Idempotent.
     */
    async forgetApplication(name: string): Promise<void> {
      await forgetOnDevices(name);
      await store.delete('Application', name);
      await forgetOnDevices(name);
    },
  };
}

export type ApplicationActivities = ReturnType<typeof createApplicationActivities>;
