/**
 * Whether a module fits the devices it targets: the host API, its entry, and each device's
 * MCU profile (module size and memory). One check for the API (before anything is stored)
 * and for the rollout workflow (before any device is contacted).
 */
import { isMcuType, MCU_PROFILES } from '../../common/mcu-profiles.js';
import type { Device } from '../../common/resources.js';
import { appMemoryPagesFor } from './host-api.js';
import { checkAppModule } from './validate.js';

/** What one app may use on a board of this MCU type: its profile's budget (the firmware's). */
export function appBudgetOf(mcuType: string): { maxAppSize: number; memoryPages: number } {
  if (isMcuType(mcuType)) return MCU_PROFILES[mcuType].apps;
  // an unknown board: half of a 256 KiB RAM, as the virtual device assumes
  const ramBytes = 256 * 1024;
  return { maxAppSize: Math.floor(ramBytes / 2), memoryPages: appMemoryPagesFor(ramBytes) };
}

/** Returns the first reason the module cannot run on one of `devices`, or undefined. */
export function moduleMisfit(
  bytes: Uint8Array,
  app: { entry: string; limits: { memoryPages: number } },
  devices: Device[],
): string | undefined {
  for (const device of devices) {
    const budget = appBudgetOf(device.spec.mcuType);
    const check = checkAppModule(bytes, {
      entry: app.entry,
      memoryPages: Math.min(app.limits.memoryPages, budget.memoryPages),
      maxModuleBytes: budget.maxAppSize,
    });
    if (!check.ok)
      return `module does not fit ${device.metadata.name} (${device.spec.mcuType}): ${check.error}`;
  }
  return undefined;
}
