/**
 * Whether a module fits the devices it targets: the host API, its entry, and each device's
 * MCU profile (module size and memory). One check for the API (before anything is stored)
 * and for the rollout workflow (before any device is contacted).
 */
import { MCU_PROFILES } from '../../common/mcu-profiles.js';
import type { Device } from '../../common/resources.js';
import { appMemoryPagesFor } from './host-api.js';
import { checkAppModule } from './validate.js';

/** The largest module a device of this RAM size accepts: half its RAM, at most 256 KiB. */
export function maxAppSizeFor(ramBytes: number): number {
  return Math.min(256 * 1024, Math.floor(ramBytes / 2));
}

/** Returns the first reason the module cannot run on one of `devices`, or undefined. */
export function moduleMisfit(
  bytes: Uint8Array,
  app: { entry: string; limits: { memoryPages: number } },
  devices: Device[],
): string | undefined {
  for (const device of devices) {
    const ram = MCU_PROFILES[device.spec.mcuType].ramBytes;
    const check = checkAppModule(bytes, {
      entry: app.entry,
      memoryPages: Math.min(app.limits.memoryPages, appMemoryPagesFor(ram)),
      maxModuleBytes: maxAppSizeFor(ram),
    });
    if (!check.ok)
      return `module does not fit ${device.metadata.name} (${device.spec.mcuType}): ${check.error}`;
  }
  return undefined;
}
