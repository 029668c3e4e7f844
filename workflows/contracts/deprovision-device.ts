/** deprovisionDevice (`deprovision-<device>`): stop, revoke, remove, forget. */
import { defineWorkflow } from './workflow-contract.js';

export interface DeprovisionDeviceInput {
  name: string;
}

export type DeprovisionDeviceWorkflow = (input: DeprovisionDeviceInput) => Promise<void>;
export const deprovisionDeviceWorkflow = defineWorkflow<DeprovisionDeviceWorkflow>()('deprovisionDevice');

export const deprovisionWorkflowId = (device: string) => `deprovision-${device}`;
