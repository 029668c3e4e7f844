/**
 * Provisioning step metrics, observed where the steps run: an activity interceptor on every
 * worker (the device host runs five steps, the orchestrator placement, the device's gateway
 * awaitSession). Only activities of a `provisionDevice` run (and of its host child) count, so recovery's reuse of the same activities does
 * not blur provisioning times. Labels: step and outcome, nothing per device.
 */
import { Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { counter, histogram } from '../common/metrics.js';
import {
  PROVISIONING_STEPS,
  prepareDeviceOnHostWorkflow,
  provisionDeviceWorkflow,
  type ProvisioningStepName,
} from '../workflows/contracts/provision-device.js';

/** The workflow types whose activities are provisioning steps (the host's run in its child). */
const PROVISION_WORKFLOW_TYPES = new Set<string | undefined>([
  provisionDeviceWorkflow.workflowType,
  prepareDeviceOnHostWorkflow.workflowType,
]);

/** Activity type → step, where they differ (the gateway's activity is the awaitSession step). */
const STEP_OF_ACTIVITY: Record<string, ProvisioningStepName> = {
  ...Object.fromEntries(PROVISIONING_STEPS.map((step) => [step, step])),
  awaitDeviceSession: 'awaitSession',
};

export function provisioningStepMetrics() {
  const duration = histogram({
    name: 'wasmbed_provisioning_step_duration_seconds',
    help: 'Duration of each provisioning step attempt, by step and outcome (succeeded, failed)',
    labelNames: ['step', 'outcome'] as const,
  });
  const attempts = counter({
    name: 'wasmbed_provisioning_step_attempts_total',
    help: 'Provisioning step attempts by step and outcome (succeeded, failed)',
    labelNames: ['step', 'outcome'] as const,
  });
  return (ctx: Context): { inbound: ActivityInboundCallsInterceptor } => ({
    inbound: {
      async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
        const info = ctx.info;
        const step = PROVISION_WORKFLOW_TYPES.has(info.workflowType)
          ? STEP_OF_ACTIVITY[info.activityType]
          : undefined;
        if (!step) return next(input);
        const end = duration.startTimer({ step });
        try {
          const result = await next(input);
          end({ outcome: 'succeeded' });
          attempts.inc({ step, outcome: 'succeeded' });
          return result;
        } catch (err) {
          end({ outcome: 'failed' });
          attempts.inc({ step, outcome: 'failed' });
          throw err;
        }
      },
    },
  });
}
