/**
 * Orchestrator activities for applications: resolve a rollout's targets and check the
 * module against each of them, and record phases and per-device states.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { deviceState, summarize } from '../common/application-status.js';
import { gatewayTaskQueue } from '../common/config.js';
import { NotFoundError } from '../common/errors.js';
import { MCU_PROFILES } from '../common/mcu-profiles.js';
import type { AppDeviceState, Application, ApplicationPhase, Device } from '../common/resources.js';
import { appMemoryPagesFor, checkAppModule } from '../device/apps/index.js';
import { maxAppSizeFor } from '../device/virtual-device.js';
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
}

function invalid(field: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'InvalidInput',
    message,
    nonRetryable: true,
    details: [{ field }],
  });
}

function matches(device: Device, selector: Record<string, string>): boolean {
  const labels = { ...device.spec.labels, ...device.metadata.labels };
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export function createApplicationActivities(deps: { store: ResourceStore; modules: ModuleStore }) {
  const { store, modules } = deps;

  function application(name: string): Application {
    const app = store.get('Application', name);
    if (!app) throw ApplicationFailure.nonRetryable(`application "${name}" not found`, 'NotFound');
    return app;
  }

  return {
    /** Resolves targets and checks the module fits every one of them; bad input fails for good. */
    async prepareRollout(name: string): Promise<RolloutPlan> {
      const app = application(name);
      const { target } = app.spec;
      const devices = store.list('Device');
      let chosen: Device[];
      if (target.devices) {
        const missing = target.devices.filter((d) => !devices.some((x) => x.metadata.name === d));
        if (missing.length > 0) throw invalid('target.devices', `unknown devices: ${missing.join(', ')}`);
        chosen = devices.filter((d) => target.devices!.includes(d.metadata.name));
      } else if (target.selector) {
        chosen = devices.filter((d) => matches(d, target.selector!));
      } else {
        chosen = devices;
      }
      if (chosen.length === 0) throw invalid('target', 'the target matches no device');
      const bytes = modules.get(app.spec.module.sha256);
      for (const device of chosen) {
        const ram = MCU_PROFILES[device.spec.mcuType].ramBytes;
        const check = checkAppModule(bytes, {
          entry: app.spec.entry,
          memoryPages: Math.min(app.spec.limits.memoryPages, appMemoryPagesFor(ram)),
          maxModuleBytes: maxAppSizeFor(ram),
        });
        if (!check.ok) {
          throw invalid(
            'module',
            `module does not fit ${device.metadata.name} (${device.spec.mcuType}): ${check.error}`,
          );
        }
      }
      return {
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
      options: { message?: string; workflowId?: string; pendingDevices?: string[] } = {},
    ): Promise<void> {
      application(name); // a deleted application is not an error to retry
      store.updateStatus('Application', name, (s) => {
        const devices = { ...s.devices };
        for (const device of options.pendingDevices ?? []) devices[device] = deviceState('Pending');
        return summarize({
          ...s,
          phase,
          devices,
          message: options.message,
          workflowId: options.workflowId ?? s.workflowId,
        });
      });
    },

    async recordAppDeviceState(
      name: string,
      device: string,
      state: AppDeviceState['state'],
      error: string | null = null,
    ): Promise<void> {
      const entry = deviceState(state, error);
      store.updateStatus('Application', name, (s) =>
        summarize({ ...s, devices: { ...s.devices, [device]: entry } }),
      );
      try {
        store.updateStatus('Device', device, (s) => ({ ...s, apps: { ...s.apps, [name]: entry } }));
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    },

    /** The devices an application was rolled out to, with where their sessions are now. */
    async deployedTargets(name: string): Promise<RolloutTarget[]> {
      const app = store.get('Application', name);
      if (!app) return [];
      return Object.keys(app.status.devices).map((device) => {
        const gw = store.get('Device', device)?.status.gateway;
        return { device, taskQueue: gw ? gatewayTaskQueue(gw.name) : null };
      });
    },

    async forgetApplication(name: string): Promise<void> {
      for (const device of store.list('Device')) {
        if (!(name in device.status.apps)) continue;
        store.updateStatus('Device', device.metadata.name, (s) => {
          const { [name]: _gone, ...apps } = s.apps;
          return { ...s, apps };
        });
      }
      store.delete('Application', name);
    },
  };
}

export type ApplicationActivities = ReturnType<typeof createApplicationActivities>;
