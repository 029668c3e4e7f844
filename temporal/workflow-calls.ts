/**
 * The only way callers outside the worker start, signal-with-start and look up workflows: by
 * their contract (workflows/contracts/), so the compiler checks the workflow's name, its
 * arguments, its result and the signal's arguments. Signals on a handle are typed by their
 * SignalDefinition (`handle.signal(promoteSignal)`).
 */
import type {
  Client,
  WorkflowHandle,
  WorkflowHandleWithFirstExecutionRunId,
  WorkflowHandleWithSignaledRunId,
  WorkflowSignalWithStartOptions,
  WorkflowStartOptions,
} from '@temporalio/client';
import type { SignalDefinition, WithWorkflowArgs } from '@temporalio/common';
import type { WorkflowContract, WorkflowFunction } from '../workflows/contracts/index.js';

export function startWorkflow<Fn extends WorkflowFunction>(
  client: Client,
  contract: WorkflowContract<Fn>,
  options: WorkflowStartOptions<Fn>,
): Promise<WorkflowHandleWithFirstExecutionRunId<Fn>> {
  return client.workflow.start<Fn>(contract.workflowType, options);
}

/** Signal-with-start; the signal is a definition from the contract, never a name. */
export function signalWithStart<Fn extends WorkflowFunction, SignalArgs extends unknown[]>(
  client: Client,
  contract: WorkflowContract<Fn>,
  options: WithWorkflowArgs<Fn, WorkflowSignalWithStartOptions<SignalArgs>> & {
    signal: SignalDefinition<SignalArgs>;
  },
): Promise<WorkflowHandleWithSignaledRunId<Fn>> {
  return client.workflow.signalWithStart<Fn, SignalArgs>(contract.workflowType, options);
}

/** A handle typed by the contract (result, signals), for `workflowId` from the contract's ID helper. */
export function workflowHandle<Fn extends WorkflowFunction>(
  client: Client,
  _contract: WorkflowContract<Fn>,
  workflowId: string,
  runId?: string,
): WorkflowHandle<Fn> {
  return client.workflow.getHandle<Fn>(workflowId, runId);
}
