/**
 * Temporal's TestWorkflowEnvironment on the Temporal CLI that setup installs (a real dev
 * server, in memory), with the bundled workflow code on an orchestrator worker, a second
 * worker standing in for one gateway's task queue and, when asked, a third for a device host's. Activities are fakes the test provides: this
 * is for workflow logic (waves, rollback, signals, grace, backoff), not for the activities.
 * The dev server does not skip time, so tests pass short durations through the workflow inputs.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { findTemporalCli } from '../../temporal/cli.js';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes.js';
import { ensureWorkflowBundle } from '../../temporal/workflow-bundle.js';

export const WORKFLOW_QUEUE = 'workflow-test-orchestrator';
export const GATEWAY_QUEUE = 'workflow-test-gateway';
/** A device host's queue: workflows (provisioning runs placed on it) and its activities. */
export const HOST_QUEUE = 'workflow-test-host';

type Activities = Record<string, (...args: never[]) => Promise<unknown>>;

export interface WorkflowTestEnv {
  env: TestWorkflowEnvironment;
  stop(): Promise<void>;
}

export async function startWorkflowTestEnv(activities: {
  orchestrator: Activities;
  gateway: Activities;
  /** Given: a worker on HOST_QUEUE too, running the workflows and these activities. */
  host?: Activities;
}): Promise<WorkflowTestEnv> {
  // Failing activities are part of these tests: keep the SDK's per-task logging out of the output.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: findTemporalCli() },
      searchAttributes: SEARCH_ATTRIBUTES,
    },
  });
  const workers = await Promise.all([
    Worker.create({
      connection: env.nativeConnection,
      taskQueue: WORKFLOW_QUEUE,
      workflowBundle: await ensureWorkflowBundle(),
      activities: activities.orchestrator,
    }),
    Worker.create({
      connection: env.nativeConnection,
      taskQueue: GATEWAY_QUEUE,
      activities: activities.gateway,
    }),
    ...(activities.host
      ? [
          Worker.create({
            connection: env.nativeConnection,
            taskQueue: HOST_QUEUE,
            workflowBundle: await ensureWorkflowBundle(),
            activities: activities.host,
          }),
        ]
      : []),
  ]);
  const running = workers.map((w) => w.run());
  return {
    env,
    async stop() {
      for (const w of workers) w.shutdown();
      await Promise.allSettled(running);
      await env.teardown();
    },
  };
}
