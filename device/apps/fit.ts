/**
 * Whether a module fits the devices it targets: the host API, its entry, and each device's
 * MCU profile (module size and memory). One check for the API (before anything is stored)
 * and for the rollout workflow (before any device is contacted).
 */
import {
  DEPLOY_FRAME_OVERHEAD,
  deployFrameLimit,
  isMcuType,
  MCU_PROFILES,
} from '../../common/mcu-profiles.js';
import type { ApplicationSpec, Device } from '../../common/resources.js';
import { deployApplicationMessage, largestEnvelopeSize } from '../../protocol/messages.js';
import { appMemoryPagesFor } from './host-api.js';
import { checkAppModule } from './validate.js';

/** What one app may use on a board of this MCU type: its profile's budget (the firmware's). */
export function appBudgetOf(mcuType: string): { maxAppSize: number; memoryPages: number } {
  if (isMcuType(mcuType)) return MCU_PROFILES[mcuType].apps;
  // an unknown board: half of a 256 KiB RAM, as the virtual device assumes
  const ramBytes = 256 * 1024;
  return { maxAppSize: Math.floor(ramBytes / 2), memoryPages: appMemoryPagesFor(ramBytes) };
}

/**
 * What one app may use on this device. The module size is the one its firmware reported
 * (DeviceInfo.maxAppSize) once it has: a board built with another WASMBED_APP_MODULE_SIZE than
 * its profile's takes that much and no more, and a frame larger than that plus
 * DEPLOY_FRAME_OVERHEAD closes its session instead of deploying. Before its first session, its
 * profile's. (Memory stays the profile's: the device limits it again when it instantiates.)
 */
export function deviceAppBudget(device: Device): { maxAppSize: number; memoryPages: number; label: string } {
  const profile = appBudgetOf(device.spec.mcuType);
  const reported = device.status?.deviceInfo?.maxAppSize;
  const name = `${device.metadata.name} (${device.spec.mcuType}`;
  return reported !== undefined && reported !== profile.maxAppSize
    ? {
        ...profile,
        maxAppSize: reported,
        label: `${name}, whose firmware reports apps up to ${reported} bytes)`,
      }
    : { ...profile, label: `${name})` };
}

/** Returns the first reason the module cannot run on one of `devices`, or undefined. */
export function moduleMisfit(
  bytes: Uint8Array,
  app: { entry: string; limits: { memoryPages: number } },
  devices: Device[],
): string | undefined {
  for (const device of devices) {
    const budget = deviceAppBudget(device);
    const check = checkAppModule(bytes, {
      entry: app.entry,
      memoryPages: Math.min(app.limits.memoryPages, budget.memoryPages),
      maxModuleBytes: budget.maxAppSize,
    });
    if (!check.ok) return `module does not fit ${budget.label}: ${check.error}`;
  }
  return undefined;
}

/**
 * Returns why the app's deploy message cannot reach one of `devices`, or undefined: a board takes
 * a DeployApplication frame of at most its module budget plus DEPLOY_FRAME_OVERHEAD, and env and
 * args travel in it with the module. (Too large, the device would close its session on it.)
 */
export function deployMessageMisfit(
  bytes: Uint8Array,
  app: { name: string } & Pick<ApplicationSpec, 'entry' | 'limits' | 'env' | 'args'>,
  devices: Device[],
): string | undefined {
  // (The gateway sends an app under its name as its id: deploy-application.ts.)
  const payload = largestEnvelopeSize(deployApplicationMessage({ ...app, appId: app.name }, bytes));
  for (const device of devices) {
    const budget = deviceAppBudget(device);
    const accepted = deployFrameLimit(budget.maxAppSize);
    if (payload > accepted)
      return (
        `env and args do not fit ${budget.label}: with the ` +
        `${bytes.length}-byte module the deploy message would be ${payload} bytes, and the board ` +
        `takes at most ${accepted} (its module budget plus ${DEPLOY_FRAME_OVERHEAD}); shorten env and args`
      );
  }
  return undefined;
}
