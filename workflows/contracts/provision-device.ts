/** provisionDevice (`provision-<device>`): from a Device row to a connected device. */
import { defineWorkflow } from './workflow-contract.js';

export interface ProvisionDeviceInput {
  name: string;
  mcuType?: string;
  runtime?: string;
  gateway?: string;
  firmware?: string;
  labels?: Record<string, string>;
}

export interface ProvisionDeviceResult {
  name: string;
  gateway: string;
  certSerial: string;
  connectedAt: string;
}

export type ProvisionDeviceWorkflow = (input: ProvisionDeviceInput) => Promise<ProvisionDeviceResult>;
export const provisionDeviceWorkflow = defineWorkflow<ProvisionDeviceWorkflow>()('provisionDevice');

/** The provisioning steps in order, as the dashboard shows them. */
export const PROVISIONING_STEPS = [
  'issueCertificate',
  'prepareVolume',
  'copyFirmware',
  'startEmulator',
  'assignGateway',
  'writeEndpoint',
  'awaitSession',
] as const;

export type ProvisioningStepName = (typeof PROVISIONING_STEPS)[number];

export const provisionWorkflowId = (device: string) => `provision-${device}`;

/**
 * prepareDeviceOnHost (`prepare-<device>`): provisioning's steps on the device's host —
 * certificate, volume, firmware, emulator — as local activities of a child workflow that runs on
 * the host's own task queue (`wasmbed-host-<id>`), started by provisionDevice.
 */
export interface PrepareDeviceOnHostInput {
  name: string;
  /** The device's spec.firmware (undefined: the runtime's default). */
  firmware?: string;
  /** The device's spec.runtime (undefined in runs begun before it was passed: run as virtual). */
  runtime?: string;
}

export interface PreparedDevice {
  certSerial: string;
  spkiSha256: string;
  notAfter: string;
}

export type PrepareDeviceOnHostWorkflow = (input: PrepareDeviceOnHostInput) => Promise<PreparedDevice>;
export const prepareDeviceOnHostWorkflow =
  defineWorkflow<PrepareDeviceOnHostWorkflow>()('prepareDeviceOnHost');
export const prepareOnHostWorkflowId = (device: string) => `prepare-${device}`;
