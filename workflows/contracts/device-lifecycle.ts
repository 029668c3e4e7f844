/** deviceLifecycle (`lifecycle-<device>`): the long-lived watcher of one device. */
import { defineSignal } from '@temporalio/workflow';
import { defineWorkflow } from './workflow-contract.js';

export interface LifecycleSettings {
  /**
   * The safety net: how often to look for trouble that neither a gateway nor the liveness
   * watchdog reported (they signal at once; this only catches what they missed).
   */
  checkIntervalMs?: number;
  /** How long a disconnected device may take to come back by itself before recovery starts. */
  graceMs?: number;
  maxAttempts?: number;
  /**
   * Wait after the first failed recovery attempt; doubled after each next one (at most 30 s).
   * Also the first wait before looking again after a step failed past its retries (doubled after
   * each next one, at most 5 minutes).
   */
  retryBackoffMs?: number;
}

export interface DeviceLifecycleInput extends LifecycleSettings {
  name: string;
}

export type DeviceLifecycleWorkflow = (input: DeviceLifecycleInput) => Promise<void>;
export const deviceLifecycleWorkflow = defineWorkflow<DeviceLifecycleWorkflow>()('deviceLifecycle');

export const lifecycleWorkflowId = (device: string) => `lifecycle-${device}`;

/** A gateway holds the device's session. */
export const connectedSignal = defineSignal<[{ gateway: string }]>('connected');
/** The device's session on a gateway ended. */
export const disconnectedSignal = defineSignal<[{ gateway: string; reason: string }]>('disconnected');
/** An operator asks for a new certificate now. */
export const rotateCertificateSignal = defineSignal('rotateCertificate');
/**
 * Look at the device now (checkDeviceHealth) instead of at the next safety-net check: sent by the
 * liveness watchdog when the gateway or device host holding the device went silent, and by a
 * rollout to the devices it left Pending (they get the app once they can).
 */
export const checkHealthSignal = defineSignal<[{ reason: string }]>('checkHealth');
