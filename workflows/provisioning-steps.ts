/** The provisioning steps in order, as the dashboard shows them. Workflow-safe. */
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
export const deprovisionWorkflowId = (device: string) => `deprovision-${device}`;
