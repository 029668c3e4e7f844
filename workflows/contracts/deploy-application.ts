/**
 * deployApplication (`deploy-<app>`) rolls an Application out; undeployApplication stops it on
 * its devices and forgets it (`undeploy-<app>`) or keeps it Stopped (`stop-<app>`).
 */
import { defineSignal } from '@temporalio/workflow';
import { defineWorkflow } from './workflow-contract.js';

export interface DeployApplicationInput {
  name: string;
  /** How long after its ack an app must stay up before its device counts as healthy. */
  healthCheckMs?: number;
  deployTimeoutMs?: number;
}

export interface DeployApplicationResult {
  phase: 'Running' | 'PartiallyRunning' | 'RolledBack';
}

export type DeployApplicationWorkflow = (input: DeployApplicationInput) => Promise<DeployApplicationResult>;
export const deployApplicationWorkflow = defineWorkflow<DeployApplicationWorkflow>()('deployApplication');

export interface UndeployApplicationInput {
  name: string;
  /** Keep the Application, Stopped, instead of forgetting it. */
  keep?: boolean;
}

export type UndeployApplicationWorkflow = (input: UndeployApplicationInput) => Promise<void>;
export const undeployApplicationWorkflow =
  defineWorkflow<UndeployApplicationWorkflow>()('undeployApplication');

export const deployWorkflowId = (app: string) => `deploy-${app}`;
export const undeployWorkflowId = (app: string) => `undeploy-${app}`;
export const stopWorkflowId = (app: string) => `stop-${app}`;

/** Canary paused after its first wave: go on with the rest. */
export const promoteSignal = defineSignal('promote');
/** Canary paused after its first wave: give up and roll it back. */
export const abortSignal = defineSignal('abort');
