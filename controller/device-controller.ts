/**
 * Reconciles Device custom resources into Temporal workflows.
 *
 * - A Device gets the `wasmbed.io/deprovision` finalizer first, so it cannot vanish before its
 *   device is cleaned up.
 * - A generation not yet handled (status.observedGeneration behind metadata.generation) is
 *   handed to `provision-<name>` with signal-with-start: a running execution only receives the
 *   signal, otherwise one is started. The run carries memo {uid, generation}; before starting,
 *   the controller looks at the latest run and skips the start if that run already covers this
 *   object and generation. So a controller that crashed between starting a run and recording
 *   observedGeneration does not start a second one when it comes back.
 * - A Device being deleted (deletionTimestamp, finalizer present) is handed to
 *   `deprovision-<name>` the same way. Its last step deletes the Device through the store, which
 *   removes the finalizer; should the run end without that, the controller removes it.
 * - Status is written only through the status subresource, read-modify-write on the
 *   resourceVersion: observedGeneration, workflowId and a `Reconciled` condition.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ORCHESTRATOR_TASK_QUEUE } from '../common/config.js';
import type { DeviceSpec, DeviceStatus } from '../common/resources.js';
import { type KubeObject, WASMBED_FINALIZER } from '../store/kubernetes-objects.js';
import { DEVICE_ATTRIBUTE, PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { signalWithStart } from '../temporal/workflow-calls.js';
import {
  deprovisionDeviceWorkflow,
  deprovisionWorkflowId,
  provisionDeviceWorkflow,
  provisionWorkflowId,
  reconcileSignal,
} from '../workflows/contracts/index.js';
import { CustomObjects, setCondition } from './custom-objects.js';
import { ResourceController, type ResourceControllerOptions } from './resource-controller.js';

interface RunMemo {
  uid?: string;
  generation?: number;
}

export interface DeviceControllerOptions extends ResourceControllerOptions {
  client: Client;
}

export class DeviceController extends ResourceController {
  /** What this controller did, for its log and for tests. */
  readonly actions = { provisionStarts: 0, deprovisionStarts: 0, signalsOnly: 0, finalizersRemoved: 0 };
  private readonly devices: CustomObjects<'Device'>;

  constructor(private readonly options: DeviceControllerOptions) {
    super('Device', 'device', options);
    this.devices = new CustomObjects(options.kc, 'Device', options.namespace, options.cache);
  }

  async reconcile(name: string): Promise<void> {
    let obj = await this.devices.get(name);
    if (!obj || this.queue.isStopped) return;
    if (obj.metadata.deletionTimestamp) return this.reconcileDeletion(obj);

    obj = await this.devices.addFinalizer(obj);
    const generation = obj.metadata.generation ?? 1;
    const status = (obj.status ?? {}) as Partial<DeviceStatus>;
    if (status.observedGeneration === generation) return;

    // A real board (runtime external) is not provisioned: it enrolls itself (docs/enrollment.md).
    if ((obj.spec as DeviceSpec).runtime === 'external') {
      await this.devices.writeStatus(obj, (s) =>
        setCondition(
          {
            ...s,
            phase: s.phase ?? 'Pending',
            observedGeneration: generation,
            enrollment: s.enrollment ?? { state: 'Preauthorized' },
          },
          'Reconciled',
          'True',
          'EnrollsItself',
          'runtime external: the board enrolls itself with a claim credential',
        ),
      );
      return;
    }
    const workflowId = provisionWorkflowId(name);
    const covered = await this.latestRunCovers(workflowId, obj, generation);
    let reason: string;
    if (covered === 'covered') {
      reason = 'AlreadyStarted';
    } else {
      const spec = obj.spec as DeviceSpec;
      const run = await signalWithStart(this.options.client, provisionDeviceWorkflow, {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId,
        args: [{ name, ...spec }],
        signal: reconcileSignal,
        signalArgs: [{ generation, uid: obj.metadata.uid }],
        memo: { uid: obj.metadata.uid, generation } satisfies RunMemo,
        typedSearchAttributes: [
          { key: DEVICE_ATTRIBUTE, value: name },
          { key: PHASE_ATTRIBUTE, value: 'Provisioning' },
        ],
      });
      // signal-with-start answers with the run that got the signal: new, or the one already going.
      const started = run.signaledRunId !== covered.runId;
      if (started) this.actions.provisionStarts++;
      else this.actions.signalsOnly++;
      reason = started ? 'WorkflowStarted' : 'WorkflowSignalled';
      this.options.logger.info(started ? 'started provisioning' : 'signalled running provisioning', {
        device: name,
        generation,
        workflowId,
        runId: run.signaledRunId,
      });
    }
    await this.devices.writeStatus(obj, (s) =>
      setCondition(
        { ...s, observedGeneration: generation, workflowId },
        'Reconciled',
        'True',
        reason,
        `generation ${generation} handed to workflow ${workflowId}`,
      ),
    );
  }

  /**
   * Whether the latest run of `workflowId` already serves this object at this generation:
   * its memo names the object and generation, or (started by the REST API, without memo) it
   * started after the object was created and the object was never changed.
   */
  private async latestRunCovers(
    workflowId: string,
    obj: KubeObject,
    generation: number,
  ): Promise<'covered' | { runId?: string; running: boolean }> {
    try {
      const description = await this.options.client.workflow.getHandle(workflowId).describe();
      const memo = (description.memo ?? {}) as RunMemo;
      const running = description.status.name === 'RUNNING';
      const sameObject = memo.uid === obj.metadata.uid && (memo.generation ?? 0) >= generation;
      const fromApi =
        memo.uid === undefined &&
        generation === 1 &&
        description.startTime.getTime() >= Date.parse(obj.metadata.creationTimestamp);
      if (sameObject || fromApi) return 'covered';
      return { runId: running ? description.runId : undefined, running };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { running: false };
      throw err;
    }
  }

  private async reconcileDeletion(obj: KubeObject): Promise<void> {
    const name = obj.metadata.name;
    if (!obj.metadata.finalizers?.includes(WASMBED_FINALIZER)) return;
    const workflowId = deprovisionWorkflowId(name);
    const handle = this.options.client.workflow.getHandle(workflowId);
    let state: 'none' | 'running' | 'completed' | 'failed' = 'none';
    try {
      const d = await handle.describe();
      const memo = (d.memo ?? {}) as RunMemo;
      // A run without memo was started by the REST API or by the store's delete: it serves too.
      if (memo.uid === obj.metadata.uid || memo.uid === undefined) {
        if (memo.uid === undefined && d.startTime.getTime() < Date.parse(obj.metadata.creationTimestamp)) {
          state = 'none'; // an old run, for an earlier object of the same name
        } else {
          state =
            d.status.name === 'RUNNING' ? 'running' : d.status.name === 'COMPLETED' ? 'completed' : 'failed';
        }
      }
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }

    if (state === 'completed') {
      // The run's last step deletes through the store, which drops the finalizer; if it did not, do it here.
      await this.removeFinalizer(name);
      return;
    }
    if (state === 'none' || state === 'failed') {
      if (state === 'failed')
        this.options.logger.warn('deprovisioning failed; starting it again', { device: name });
      try {
        await signalWithStart(this.options.client, deprovisionDeviceWorkflow, {
          taskQueue: ORCHESTRATOR_TASK_QUEUE,
          workflowId,
          args: [{ name }],
          signal: reconcileSignal,
          signalArgs: [{ uid: obj.metadata.uid, deleting: true }],
          memo: { uid: obj.metadata.uid, generation: obj.metadata.generation } satisfies RunMemo,
          typedSearchAttributes: [
            { key: DEVICE_ATTRIBUTE, value: name },
            { key: PHASE_ATTRIBUTE, value: 'Deprovisioning' },
          ],
        });
        this.actions.deprovisionStarts++;
        this.options.logger.info('started deprovisioning', { device: name, workflowId });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    }
    this.awaitRun(this.options.client, name, workflowId);
  }

  private async removeFinalizer(name: string): Promise<void> {
    if (await this.devices.removeFinalizer(name)) {
      this.actions.finalizersRemoved++;
      this.options.logger.info('removed finalizer', { device: name });
    }
  }
}
