/** deviceLifecycle (`lifecycle-<device>`): the long-lived watcher of one device. */
import { defineSignal } from '@temporalio/workflow';
import { defineWorkflow } from './workflow-contract.js';

export interface LifecycleSettings {
  /** How often to look for trouble no gateway reports. */
  checkIntervalMs?: number;
  /** How long a disconnected device may take to come back by itself before recovery starts. */
  graceMs?: number;
  maxAttempts?: number;
  /** Wait after the first failed recovery attempt; doubled after each next one (at most 30 s). */
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
