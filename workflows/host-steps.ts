/**
 * Provisioning's four steps on the device host — certificate for the key made in its volume,
 * volume, firmware, emulator — as local activities of the calling workflow, which must run on
 * that host's queue: provisionDevice when the API started it there, prepareDeviceOnHost (its child)
 * otherwise. An emulator that may take long to start (any but the virtual device's) is started by
 * an activity of its own on that same queue. Workflow code.
 */
import { patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { DeviceRuntimeActivities } from '../activities/device-runtime.js';
import type { PreparedDevice, ProvisioningStepName } from './contracts/index.js';
import {
  emulatorMayStartSlowly,
  emulatorStepOptions,
  slowEmulatorStartOptions,
  volumeStepOptions,
} from './host-step-options.js';
import { Patch } from './patches.js';

const volume = proxyLocalActivities<DeviceRuntimeActivities>(volumeStepOptions);
const emulator = proxyLocalActivities<DeviceRuntimeActivities>(emulatorStepOptions);
/** On the calling workflow's own queue (no taskQueue given): the host's. */
const slowEmulator = proxyActivities<DeviceRuntimeActivities>(slowEmulatorStartOptions);

/** Runs the four in order; `at` learns each step as it begins (the caller names a failed one). */
export async function hostStepsHere(
  device: { name: string; firmware?: string; runtime?: string },
  at: (step: ProvisioningStepName) => void,
): Promise<PreparedDevice> {
  const { name, firmware, runtime } = device;
  at('issueCertificate');
  // The device's key is made in its volume here and never leaves this host.
  const identity = await volume.issueCertificate(name);
  at('prepareVolume');
  await volume.prepareVolume(name);
  at('copyFirmware');
  await volume.copyFirmware(name, firmware);
  at('startEmulator');
  // (Asked only for such a runtime: a virtual device's run records no marker. Runs begun before
  // started every emulator as a local activity.)
  if (emulatorMayStartSlowly(runtime) && patched(Patch.slowEmulatorStartAsActivity))
    await slowEmulator.startEmulator(name);
  else await emulator.startEmulator(name);
  return identity;
}

/** The endpoint and credentials blocks into the device's memory, here. */
export async function writeEndpointHere(name: string, endpoint: string): Promise<void> {
  await emulator.writeEndpoint(name, endpoint);
}
