/**
 * The controller's access to one kind of wasmbed.io custom object: reads from the process's
 * informer cache (store/kubernetes-cache.ts, no API call), writes through the API (replace, status
 * through the status subresource, the finalizer), each from the object as read and so guarded by
 * its resourceVersion. Every object a write returns goes into the cache, so the next reconcile
 * sees it. A 409 Conflict is left to the work queue, which reconciles again; the object is read
 * with a GET first, so that retry does not start from the same stale copy.
 */
import { ApiException, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Condition, ResourceKind } from '../common/resources.js';
import type { KubeCache } from '../store/kubernetes-cache.js';
import { makeKeepAliveApiClient } from '../store/kubernetes-client.js';
import {
  KUBE_GROUP,
  KUBE_VERSION,
  PLURALS,
  WASMBED_FINALIZER,
  defaultStatus,
  type KubeObject,
} from '../store/kubernetes-objects.js';
import type { StatusOf } from '../store/resource-store.js';
import { errorMessage } from '../common/errors.js';

export class CustomObjects<K extends ResourceKind> {
  readonly plural: string;
  private readonly api: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    readonly kind: K,
    readonly namespace: string,
    private readonly cache: KubeCache,
  ) {
    this.api = makeKeepAliveApiClient(kc, CustomObjectsApi);
    this.plural = PLURALS[kind];
  }

  private get where() {
    return { group: KUBE_GROUP, version: KUBE_VERSION, namespace: this.namespace, plural: this.plural };
  }

  /** The cached object (this process's own writes included). */
  get(name: string): Promise<KubeObject | undefined> {
    return this.cache.get(this.kind, name);
  }

  /** The object as the API server has it now (one GET, kept in the cache); undefined if gone. */
  async fresh(name: string): Promise<KubeObject | undefined> {
    try {
      const obj = (await this.api.getNamespacedCustomObject({ ...this.where, name })) as KubeObject;
      this.cache.remember(this.kind, obj);
      return obj;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  /** Runs a write; keeps what it returns, and on 409 refreshes the cache with a GET before rethrowing. */
  private async write(name: string, call: () => Promise<unknown>): Promise<KubeObject> {
    try {
      const result = (await call()) as KubeObject;
      this.cache.remember(this.kind, result);
      return result;
    } catch (err) {
      if (err instanceof ApiException && err.code === 409) await this.fresh(name).catch(() => undefined);
      throw err;
    }
  }

  replace(obj: KubeObject): Promise<KubeObject> {
    const name = obj.metadata.name;
    return this.write(name, () => this.api.replaceNamespacedCustomObject({ ...this.where, name, body: obj }));
  }

  /** Status through the status subresource, from `obj` as read (409 if it changed since). */
  writeStatus(obj: KubeObject, mutate: (s: StatusOf<K>) => StatusOf<K>): Promise<KubeObject> {
    const status = mutate({
      ...defaultStatus(this.kind),
      ...((obj.status as StatusOf<K> | undefined) ?? {}),
    });
    const name = obj.metadata.name;
    return this.write(name, () =>
      this.api.replaceNamespacedCustomObjectStatus({
        ...this.where,
        name,
        body: { ...obj, status: JSON.parse(JSON.stringify(status)) },
      }),
    );
  }

  /** Puts Wasmbed's finalizer on the object (first thing a controller does with it). */
  async addFinalizer(obj: KubeObject): Promise<KubeObject> {
    if (obj.metadata.finalizers?.includes(WASMBED_FINALIZER)) return obj;
    return this.replace({
      ...obj,
      metadata: { ...obj.metadata, finalizers: [...(obj.metadata.finalizers ?? []), WASMBED_FINALIZER] },
    });
  }

  /** Removes Wasmbed's finalizer; false when there was none (or the object is gone). */
  async removeFinalizer(name: string): Promise<boolean> {
    const obj = await this.get(name);
    if (!obj?.metadata.finalizers?.includes(WASMBED_FINALIZER)) return false;
    const finalizers = obj.metadata.finalizers.filter((f) => f !== WASMBED_FINALIZER);
    try {
      const result = await this.replace({ ...obj, metadata: { ...obj.metadata, finalizers } });
      if (result.metadata.deletionTimestamp && finalizers.length === 0) this.cache.forget(this.kind, result);
      return true;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return false;
      throw err;
    }
  }
}

/** Sets one condition, keeping lastTransitionTime when its status did not change. */
export function setCondition<S extends { conditions?: Condition[] }>(
  status: S,
  type: string,
  value: Condition['status'],
  reason: string,
  message: string,
): S {
  const conditions = status.conditions ?? [];
  const previous = conditions.find((c) => c.type === type);
  const lastTransitionTime =
    previous && previous.status === value ? previous.lastTransitionTime : new Date().toISOString();
  return {
    ...status,
    conditions: [
      ...conditions.filter((c) => c.type !== type),
      { type, status: value, reason, message, lastTransitionTime },
    ],
  };
}

export function describeError(err: unknown): string {
  if (err instanceof ApiException) return `HTTP ${err.code}: ${String(err.body).slice(0, 300)}`;
  return errorMessage(err);
}
