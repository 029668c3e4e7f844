/**
 * Temporal's TestWorkflowEnvironment on the Temporal CLI that setup installs (a real dev
 * server, in memory), with the bundled workflow code on an orchestrator worker and a second
 * worker standing in for one gateway's task queue. Activities are fakes the test provides: this
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

type Activities = Record<string, (...args: never[]) => Promise<unknown>>;

export interface WorkflowTestEnv {
  env: TestWorkflowEnvironment;
  stop(): Promise<void>;
}

export async function startWorkflowTestEnv(activities: {
  orchestrator: Activities;
  gateway: Activities;
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
