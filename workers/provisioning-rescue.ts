/**
 * Provisioning that was running on a device host which then died. The API starts a run on the
 * queue of the host its device will live on (services/provisioning-queue.ts), and only that host
 * polls the queue: a restarted host picks the run up where it stood, but a host gone for good
 * (silent past the grace period) would leave it waiting for ever. The liveness watchdog hands
 * such devices here: the run is replaced by one on the orchestrator's queue (the same workflow
 * ID, TERMINATE_EXISTING), which places the device on a live host and runs the host's steps
 * there — as Retry would, every step idempotent. When the dead host comes back, its fence
 * (host/main.ts) stops the copy it held.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Device } from '../common/resources.js';
import type { Logger } from '../common/logger.js';
import { ORCHESTRATOR_TASK_QUEUE, hostTaskQueue } from '../common/task-queues.js';
import { DEVICE_ATTRIBUTE, PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { startWorkflow, workflowHandle } from '../temporal/workflow-calls.js';
import { provisionDeviceWorkflow, provisionWorkflowId } from '../workflows/contracts/index.js';
import type { ProvisioningRescue } from './liveness-watchdog.js';

export function rescueProvisioning(client: Client, logger: Logger): ProvisioningRescue {
  return async (device, deadHost) => {
    const name = device.metadata.name;
    const workflowId = provisionWorkflowId(name);
    let taskQueue: string;
    try {
      const run = await workflowHandle(client, provisionDeviceWorkflow, workflowId).describe();
      if (run.status.name !== 'RUNNING') return;
      taskQueue = run.taskQueue;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return;
      throw err;
    }
    // Only a run waiting on the dead host's queue: one on the orchestrator's moves by itself.
    if (taskQueue !== hostTaskQueue(deadHost)) return;
    await startWorkflow(client, provisionDeviceWorkflow, {
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      workflowId,
      args: [{ name, ...(device.spec satisfies Device['spec']) }],
      workflowIdConflictPolicy: 'TERMINATE_EXISTING',
      typedSearchAttributes: [
        { key: DEVICE_ATTRIBUTE, value: name },
        { key: PHASE_ATTRIBUTE, value: 'Provisioning' },
      ],
    });
    logger.warn('provisioning moved off a dead device host', { device: name, host: deadHost });
  };
}
