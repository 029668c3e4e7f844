/**
 * Typed contracts of every workflow: input/result types, signal definitions, workflow-ID helpers.
 * Callers start and signal workflows only through these (with temporal/workflow-calls.ts), never
 * by a name in a string. A leaf: imports nothing of the project but itself.
 */
import { contractTable } from './workflow-contract.js';
import { deployApplicationWorkflow, undeployApplicationWorkflow } from './deploy-application.js';
import { deprovisionDeviceWorkflow } from './deprovision-device.js';
import { deviceLifecycleWorkflow } from './device-lifecycle.js';
import { enrollDeviceWorkflow } from './enroll-device.js';
import { prepareDeviceOnHostWorkflow, provisionDeviceWorkflow } from './provision-device.js';

export * from './workflow-contract.js';
export * from './provision-device.js';
export * from './deprovision-device.js';
export * from './device-lifecycle.js';
export * from './deploy-application.js';
export * from './enroll-device.js';
export * from './reconcile.js';

/** Every workflow the workers register (one bundle: the orchestrator's and the hosts'), by its registered name. */
export const WORKFLOW_CONTRACTS = contractTable({
  provisionDevice: provisionDeviceWorkflow,
  prepareDeviceOnHost: prepareDeviceOnHostWorkflow,
  deprovisionDevice: deprovisionDeviceWorkflow,
  deviceLifecycle: deviceLifecycleWorkflow,
  deployApplication: deployApplicationWorkflow,
  undeployApplication: undeployApplicationWorkflow,
  enrollDevice: enrollDeviceWorkflow,
});
