/**
 * The signal the Kubernetes controller sends with signal-with-start of provisionDevice and
 * deprovisionDevice. The workflows register no handler: a running execution just buffers it;
 * what matters is that the start answers with the run that received it.
 */
import { defineSignal } from '@temporalio/workflow';

export interface ReconcileRequest {
  uid: string;
  generation?: number;
  deleting?: boolean;
}

export const reconcileSignal = defineSignal<[ReconcileRequest]>('wasmbed.reconcile');
