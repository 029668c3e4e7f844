// Workflow entry point bundled for the orchestrator worker (and the device hosts' workers, which run
// prepareDeviceOnHost). Only workflow-safe imports.
import type { ContractFunction, WORKFLOW_CONTRACTS } from './contracts/index.js';
import { deployApplication, undeployApplication } from './deploy-application.js';
import { deprovisionDevice } from './deprovision-device.js';
import { deviceLifecycle } from './device-lifecycle.js';
import { enrollDevice } from './enroll-device.js';
import { prepareDeviceOnHost } from './prepare-device-on-host.js';
import { provisionDevice } from './provision-device.js';

export {
  provisionDevice,
  prepareDeviceOnHost,
  deprovisionDevice,
  deployApplication,
  undeployApplication,
  deviceLifecycle,
  enrollDevice,
};

/** Compile-time check: every contract is implemented, under its own name, with its signature. */
type Implements<
  T extends {
    [Name in keyof typeof WORKFLOW_CONTRACTS]: ContractFunction<(typeof WORKFLOW_CONTRACTS)[Name]>;
  },
> = T;
export type CheckedImplementations = Implements<{
  provisionDevice: typeof provisionDevice;
  prepareDeviceOnHost: typeof prepareDeviceOnHost;
  deprovisionDevice: typeof deprovisionDevice;
  deployApplication: typeof deployApplication;
  undeployApplication: typeof undeployApplication;
  deviceLifecycle: typeof deviceLifecycle;
  enrollDevice: typeof enrollDevice;
}>;
