/** enrollDevice (`enroll-<device>`): a real board asks for a certificate for its own key. */
import { defineSignal } from '@temporalio/workflow';
import { defineWorkflow } from './workflow-contract.js';

/** What a gateway tells the workflow about a held EnrollmentRequest. */
export interface EnrollmentRequestSignal {
  gateway: string;
  taskQueue: string;
  /** The held connection on that gateway. */
  connectionId: string;
  csrBase64: string;
  /** SHA-256 of the CSR's SubjectPublicKeyInfo. */
  csrFingerprint: string;
  keyType: string;
  sourceAddress: string;
  claimId: string;
  requestedAt: string;
}

export interface EnrollDeviceInput {
  name: string;
  approvalTimeoutMs?: number;
  reconnectTimeoutMs?: number;
}

export interface EnrollDeviceResult {
  name: string;
  outcome: 'Enrolled' | 'Rejected' | 'Incomplete';
  reason?: string;
  certSerial?: string;
}

export type EnrollDeviceWorkflow = (input: EnrollDeviceInput) => Promise<EnrollDeviceResult>;
export const enrollDeviceWorkflow = defineWorkflow<EnrollDeviceWorkflow>()('enrollDevice');

export const enrollWorkflowId = (device: string) => `enroll-${device}`;

/** A gateway holds a board's EnrollmentRequest open and waits for the answer. */
export const enrollmentRequestSignal = defineSignal<[EnrollmentRequestSignal]>('enrollmentRequest');
export const approveSignal = defineSignal('approve');
export const rejectSignal = defineSignal<[{ reason?: string }]>('reject');
