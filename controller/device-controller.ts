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
import { ApiException, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { ORCHESTRATOR_TASK_QUEUE } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import type { Condition, DeviceSpec, DeviceStatus } from '../common/resources.js';
import { type KubeObject, WASMBED_FINALIZER, defaultStatus } from '../store/kubernetes-resource-store.js';
import { DEVICE_ATTRIBUTE, PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { deprovisionWorkflowId, provisionWorkflowId } from '../workflows/provisioning-steps.js';
import { Informer } from './informer.js';

export const GROUP = 'wasmbed.io';
export const VERSION = 'v1alpha1';
/** Signal sent with every start; a running workflow without a handler just buffers it. */
export const RECONCILE_SIGNAL = 'wasmbed.reconcile';

interface RunMemo {
  uid?: string;
  generation?: number;
}

export interface DeviceControllerOptions {
  kc: KubeConfig;
  client: Client;
  namespace: string;
  resyncMs: number;
  logger: Logger;
}

export class DeviceController {
  readonly informer: Informer;
  /** What this controller did, for its log and for tests. */
  readonly actions = { provisionStarts: 0, deprovisionStarts: 0, signalsOnly: 0, finalizersRemoved: 0 };
  private readonly api: CustomObjectsApi;
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly awaiting = new Set<string>();
  private stopped = false;

  constructor(private readonly options: DeviceControllerOptions) {
    this.api = options.kc.makeApiClient(CustomObjectsApi);
    this.informer = new Informer({
      kc: options.kc,
      group: GROUP,
      version: VERSION,
      plural: 'devices',
      namespace: options.namespace,
      resyncMs: options.resyncMs,
      logger: options.logger,
      onChange: (name, obj) => {
        if (obj) this.enqueue(name);
      },
    });
  }

  start(): void {
    this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer.stop();
  }

  /** One reconcile per name at a time; a change during a reconcile runs it once more after. */
  enqueue(name: string, delayMs = 0): void {
    if (this.stopped) return;
    if (delayMs > 0) {
      setTimeout(() => this.enqueue(name), delayMs).unref();
      return;
    }
    if (this.running.has(name)) {
      this.dirty.add(name);
      return;
    }
    this.running.add(name);
    void this.reconcile(name)
      .catch((err: unknown) => {
        const conflict = err instanceof ApiException && err.code === 409;
        if (!conflict) {
          this.options.logger.warn('reconcile failed; retrying', { device: name, error: describe(err) });
        }
        this.dirty.add(name);
        return new Promise((r) => setTimeout(r, conflict ? 50 : 2000));
      })
      .finally(() => {
        this.running.delete(name);
        if (this.dirty.delete(name)) this.enqueue(name);
      });
  }

  private async get(name: string): Promise<KubeObject | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: this.options.namespace,
        plural: 'devices',
        name,
      })) as KubeObject;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  private async replace(obj: KubeObject): Promise<KubeObject> {
    return (await this.api.replaceNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: this.options.namespace,
      plural: 'devices',
      name: obj.metadata.name,
      body: obj,
    })) as KubeObject;
  }

  /** Read-modify-write of status through the status subresource (409 → the queue retries). */
  private async writeStatus(obj: KubeObject, mutate: (s: DeviceStatus) => DeviceStatus): Promise<void> {
    const status = mutate({
      ...defaultStatus('Device'),
      ...((obj.status as DeviceStatus | undefined) ?? {}),
    });
    await this.api.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      namespace: this.options.namespace,
      plural: 'devices',
      name: obj.metadata.name,
      body: { ...obj, status: JSON.parse(JSON.stringify(status)) },
    });
  }

  async reconcile(name: string): Promise<void> {
    let obj = await this.get(name);
    if (!obj || this.stopped) return;
    if (obj.metadata.deletionTimestamp) return this.reconcileDeletion(obj);

    if (!obj.metadata.finalizers?.includes(WASMBED_FINALIZER)) {
      obj = await this.replace({
        ...obj,
        metadata: { ...obj.metadata, finalizers: [...(obj.metadata.finalizers ?? []), WASMBED_FINALIZER] },
      });
    }
    const generation = obj.metadata.generation ?? 1;
    const status = (obj.status ?? {}) as Partial<DeviceStatus>;
    if (status.observedGeneration === generation) return;

    // A real board (runtime external) is not provisioned: it enrolls itself (docs/enrollment.md).
    if ((obj.spec as DeviceSpec).runtime === 'external') {
      await this.writeStatus(obj, (s) =>
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
      const run = await this.options.client.workflow.signalWithStart('provisionDevice', {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId,
        args: [{ name, ...spec }],
        signal: RECONCILE_SIGNAL,
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
    await this.writeStatus(obj, (s) =>
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
        await this.options.client.workflow.signalWithStart('deprovisionDevice', {
          taskQueue: ORCHESTRATOR_TASK_QUEUE,
          workflowId,
          args: [{ name }],
          signal: RECONCILE_SIGNAL,
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
    this.awaitDeprovision(name, workflowId);
  }

  /** Waits (in the background, once per device) for the run to end, then reconciles again. */
  private awaitDeprovision(name: string, workflowId: string): void {
    if (this.awaiting.has(name)) return;
    this.awaiting.add(name);
    void this.options.client.workflow
      .getHandle(workflowId)
      .result()
      .catch(() => undefined)
      .finally(() => {
        this.awaiting.delete(name);
        this.enqueue(name);
      });
  }

  private async removeFinalizer(name: string): Promise<void> {
    const obj = await this.get(name);
    if (!obj?.metadata.finalizers?.includes(WASMBED_FINALIZER)) return;
    try {
      await this.replace({
        ...obj,
        metadata: {
          ...obj.metadata,
          finalizers: obj.metadata.finalizers.filter((f) => f !== WASMBED_FINALIZER),
        },
      });
      this.actions.finalizersRemoved++;
      this.options.logger.info('removed finalizer', { device: name });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
    }
  }
}

function setCondition(
  status: DeviceStatus,
  type: string,
  value: Condition['status'],
  reason: string,
  message: string,
): DeviceStatus {
  const previous = status.conditions.find((c) => c.type === type);
  const lastTransitionTime =
    previous && previous.status === value ? previous.lastTransitionTime : new Date().toISOString();
  return {
    ...status,
    conditions: [
      ...status.conditions.filter((c) => c.type !== type),
      { type, status: value, reason, message, lastTransitionTime },
    ],
  };
}

function describe(err: unknown): string {
  if (err instanceof ApiException) return `HTTP ${err.code}: ${String(err.body).slice(0, 300)}`;
  return err instanceof Error ? err.message : String(err);
}
