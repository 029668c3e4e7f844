/**
 * Reconciles Application custom resources through the same ApplicationService the REST API
 * uses, so `kubectl apply` of an Application and `POST/PUT /api/v1/applications` end in the same
 * checks, the same module store and the same workflows (`deploy-<name>`, `undeploy-<name>`).
 *
 * - An Application gets the `wasmbed.io/deprovision` finalizer first.
 * - A generation not yet handled (status.observedGeneration behind metadata.generation):
 *   the module named by spec.module is resolved (an uploaded module by sha256, or a ConfigMap
 *   key read here) and handed to ApplicationService.rollOutStored, which checks it like a REST
 *   body, stores it, records status.resolvedModule and starts the rollout: like `create` the
 *   first time, like `PUT` (replace the running rollout, keep the previous version to roll
 *   back to) afterwards. Runs carry memo {uid, generation}; a run that already serves this
 *   generation (started by the REST API, or by a controller that died before writing status)
 *   is not started again, and when the REST API starts it at the same moment, the service's
 *   rollout claim (services/rollout-claim.ts) lets only one of them start it.
 * - Bad input gets a `Reconciled=False` condition naming what is wrong (phase Failed), and the
 *   generation counts as observed: the next spec change tries again. A ConfigMap that does not
 *   exist yet is retried, since `kubectl apply -f dir/` may create it after the Application;
 *   so are targeted devices still coming up (Pending, Provisioning), which a rollout started
 *   now would only record as Failed.
 * - Deletion: ApplicationService.delete (stop a rollout in progress, `undeploy-<name>` stops
 *   the app on its devices and forgets the Application, which drops the finalizer); the
 *   controller waits for that run and removes the finalizer itself if the run did not.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { NotFoundError, ValidationError, WasmbedError } from '../common/errors.js';
import type { ApplicationStatus } from '../common/resources.js';
import type { ApplicationCrModule, KubeObject } from '../store/kubernetes-objects.js';
import { WASMBED_FINALIZER } from '../store/kubernetes-objects.js';
import { type ApplicationService, type RunMemo, runServes } from '../services/application-service.js';
import { deployWorkflowId, undeployWorkflowId } from '../workflows/contracts/index.js';
import { CustomObjects, setCondition } from './custom-objects.js';
import { ResourceController, type ResourceControllerOptions } from './resource-controller.js';

export interface ApplicationControllerOptions extends ResourceControllerOptions {
  client: Client;
  service: ApplicationService;
  /** How soon a missing ConfigMap or a device still coming up is looked at again (default 2 s). */
  retryMs?: number;
}

/** A module source that cannot be read yet (missing ConfigMap or key): retried, not final. */
class ModuleSourceMissing extends WasmbedError {
  constructor(message: string) {
    super('ModuleSourceMissing', message);
  }
}

export class ApplicationController extends ResourceController {
  /** What this controller did, for its log and for tests. */
  readonly actions = { deployStarts: 0, undeployStarts: 0, rejected: 0, finalizersRemoved: 0 };
  private readonly apps: CustomObjects<'Application'>;
  private readonly core: CoreV1Api;

  constructor(private readonly options: ApplicationControllerOptions) {
    super('Application', 'application', options);
    this.apps = new CustomObjects(options.kc, 'Application', options.namespace, options.cache);
    this.core = options.kc.makeApiClient(CoreV1Api);
  }

  async reconcile(name: string): Promise<void> {
    let obj = await this.apps.get(name);
    if (!obj || this.queue.isStopped) return;
    if (obj.metadata.deletionTimestamp) return this.reconcileDeletion(obj);

    obj = await this.apps.addFinalizer(obj);
    const generation = obj.metadata.generation ?? 1;
    const status = (obj.status ?? {}) as Partial<ApplicationStatus>;
    if (status.observedGeneration === generation) return;

    const workflowId = deployWorkflowId(name);
    let reason = 'AlreadyStarted';
    if (!(await runServes(this.options.client, workflowId, obj))) {
      // `kubectl apply -f` of Devices and Applications together: wait for the devices first.
      const comingUp = await this.options.service.devicesComingUp(name);
      if (comingUp.length > 0) return this.waitForDevices(obj, comingUp);
      try {
        const bytes = await this.moduleBytes(obj);
        await this.options.service.rollOutStored(name, bytes);
      } catch (err) {
        return this.reject(name, generation, err);
      }
      reason = 'RolloutStarted';
      this.actions.deployStarts++;
      this.options.logger.info('started rollout', { application: name, generation, workflowId });
    }
    // The service wrote status meanwhile, through the store that shares this cache: write ours on
    // top of that (a 409 retries anyway).
    const fresh = await this.apps.get(name);
    if (!fresh) return;
    await this.apps.writeStatus(fresh, (s) =>
      setCondition(
        { ...s, observedGeneration: generation, workflowId },
        'Reconciled',
        'True',
        reason,
        `generation ${generation} handed to workflow ${workflowId}`,
      ),
    );
  }

  private async waitForDevices(obj: KubeObject, devices: string[]): Promise<void> {
    const message = `waiting for targeted devices to connect: ${devices.join(', ')}`;
    const status = obj.status as Partial<ApplicationStatus> | undefined;
    const current = status?.conditions?.find((c) => c.type === 'Reconciled');
    if (current?.reason !== 'WaitingForDevices' || current.message !== message) {
      await this.apps.writeStatus(obj, (s) =>
        setCondition({ ...s, message }, 'Reconciled', 'False', 'WaitingForDevices', message),
      );
    }
    this.enqueue(obj.metadata.name, this.options.retryMs ?? 2000);
  }

  /** The module's bytes when spec.module names a ConfigMap key; undefined for an uploaded module. */
  private async moduleBytes(obj: KubeObject): Promise<Uint8Array | undefined> {
    const source = ((obj.spec as { module?: ApplicationCrModule } | undefined)?.module ??
      {}) as ApplicationCrModule;
    const ref = source.configMapKeyRef;
    if (!ref) return undefined;
    let configMap;
    try {
      configMap = await this.core.readNamespacedConfigMap({
        name: ref.name,
        namespace: this.options.namespace,
      });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) {
        throw new ModuleSourceMissing(`ConfigMap "${ref.name}" (spec.module.configMapKeyRef) does not exist`);
      }
      throw err;
    }
    // kubectl create configmap --from-file puts a file in binaryData unless it is valid UTF-8,
    // in which case it lands in data, and encoding it back as UTF-8 gives the same bytes.
    const base64 = configMap.binaryData?.[ref.key];
    if (base64 !== undefined) return Buffer.from(base64, 'base64');
    const text = configMap.data?.[ref.key];
    if (text !== undefined) return Buffer.from(text, 'utf8');
    throw new ModuleSourceMissing(`ConfigMap "${ref.name}" has no key "${ref.key}"`);
  }

  /**
   * Bad input: Reconciled=False with the reason, phase Failed. A module source that is not there
   * yet (ConfigMap, key, or a sha256 not uploaded yet) is retried (not observed); anything else
   * that is not the input's fault is thrown for the queue.
   */
  private async reject(name: string, generation: number, err: unknown): Promise<void> {
    const notUploaded = err instanceof ValidationError && err.cause instanceof NotFoundError;
    const missing = err instanceof ModuleSourceMissing || notUploaded;
    const invalid = err instanceof ValidationError;
    if (!missing && !invalid) throw err;
    const field = err instanceof ValidationError ? `${err.field}: ` : '';
    const message = `${field}${(err as Error).message}`;
    const obj = await this.apps.get(name);
    if (!obj) return;
    await this.apps.writeStatus(obj, (s) =>
      setCondition(
        {
          ...s,
          phase: 'Failed',
          message,
          ...(missing ? {} : { observedGeneration: generation }),
        },
        'Reconciled',
        'False',
        missing ? 'ModuleNotFound' : 'InvalidSpec',
        message,
      ),
    );
    if (missing) this.enqueue(name, this.options.retryMs ?? 2000);
    else this.actions.rejected++;
    this.options.logger.warn(missing ? 'module source not found; retrying' : 'application rejected', {
      application: name,
      generation,
      error: message,
    });
  }

  private async reconcileDeletion(obj: KubeObject): Promise<void> {
    const name = obj.metadata.name;
    if (!obj.metadata.finalizers?.includes(WASMBED_FINALIZER)) return;
    const workflowId = undeployWorkflowId(name);
    let state: 'none' | 'running' | 'completed' | 'failed' = 'none';
    try {
      const d = await this.options.client.workflow.getHandle(workflowId).describe();
      if (((d.memo ?? {}) as RunMemo).uid === obj.metadata.uid) {
        state =
          d.status.name === 'RUNNING' ? 'running' : d.status.name === 'COMPLETED' ? 'completed' : 'failed';
      }
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    if (state === 'completed') {
      // forgetApplication deletes through the store, which drops the finalizer; if not, do it here.
      if (await this.apps.removeFinalizer(name)) {
        this.actions.finalizersRemoved++;
        this.options.logger.info('removed finalizer', { application: name });
      }
      return;
    }
    if (state !== 'running') {
      if (state === 'failed')
        this.options.logger.warn('undeploy failed; starting it again', { application: name });
      await this.options.service.delete(name);
      this.actions.undeployStarts++;
      this.options.logger.info('started undeploy', { application: name, workflowId });
    }
    this.awaitRun(this.options.client, name, workflowId);
  }
}
