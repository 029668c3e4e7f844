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
export const lifecycleWorkflowId = (device: string) => `lifecycle-${device}`;
export const enrollWorkflowId = (device: string) => `enroll-${device}`;

/** Signals of enrollDevice (workflows/enroll-device.ts). */
export const ENROLLMENT_SIGNALS = {
  /** A gateway holds a board's EnrollmentRequest open and waits for the answer. */
  request: 'enrollmentRequest',
  approve: 'approve',
  reject: 'reject',
} as const;

/** Signals the gateways send to a device's lifecycle workflow. */
export const LIFECYCLE_SIGNALS = {
  connected: 'connected',
  disconnected: 'disconnected',
  /** An operator asks for a new certificate now. */
  rotateCertificate: 'rotateCertificate',
} as const;
