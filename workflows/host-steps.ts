/**
 * Provisioning's four steps on the device host — certificate for the key made in its volume,
 * volume, firmware, emulator — as local activities of the calling workflow, which must run on
 * that host's queue: provisionDevice when the API started it there, prepareDeviceOnHost (its child)
 * otherwise. Workflow code.
 */
import { proxyLocalActivities } from '@temporalio/workflow';
import type { DeviceRuntimeActivities } from '../activities/device-runtime.js';
import type { PreparedDevice, ProvisioningStepName } from './contracts/index.js';
import { emulatorStepOptions, volumeStepOptions } from './host-step-options.js';

const volume = proxyLocalActivities<DeviceRuntimeActivities>(volumeStepOptions);
const emulator = proxyLocalActivities<DeviceRuntimeActivities>(emulatorStepOptions);

/** Runs the four in order; `at` learns each step as it begins (the caller names a failed one). */
export async function hostStepsHere(
  name: string,
  firmware: string | undefined,
  at: (step: ProvisioningStepName) => void,
): Promise<PreparedDevice> {
  at('issueCertificate');
  // The device's key is made in its volume here and never leaves this host.
  const identity = await volume.issueCertificate(name);
  at('prepareVolume');
  await volume.prepareVolume(name);
  at('copyFirmware');
  await volume.copyFirmware(name, firmware);
  at('startEmulator');
  await emulator.startEmulator(name);
  return identity;
}

/** The endpoint and credentials blocks into the device's memory, here. */
export async function writeEndpointHere(name: string, endpoint: string): Promise<void> {
  await emulator.writeEndpoint(name, endpoint);
}
