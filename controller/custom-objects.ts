/**
 * The controller's access to one kind of wasmbed.io custom object: get, replace, status through
 * the status subresource (read-modify-write on the resourceVersion; a 409 is left to the work
 * queue, which reconciles again from a fresh read) and the finalizer.
 */
import { ApiException, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Condition, ResourceKind } from '../common/resources.js';
import {
  PLURALS,
  WASMBED_FINALIZER,
  defaultStatus,
  type KubeObject,
} from '../store/kubernetes-resource-store.js';
import type { StatusOf } from '../store/resource-store.js';
import { errorMessage } from '../common/errors.js';

export const GROUP = 'wasmbed.io';
export const VERSION = 'v1alpha1';

export class CustomObjects<K extends ResourceKind> {
  readonly plural: string;
  private readonly api: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    readonly kind: K,
    readonly namespace: string,
  ) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.plural = PLURALS[kind];
  }

  private get where() {
    return { group: GROUP, version: VERSION, namespace: this.namespace, plural: this.plural };
  }

  async get(name: string): Promise<KubeObject | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject({ ...this.where, name })) as KubeObject;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  async replace(obj: KubeObject): Promise<KubeObject> {
    return (await this.api.replaceNamespacedCustomObject({
      ...this.where,
      name: obj.metadata.name,
      body: obj,
    })) as KubeObject;
  }

  /** Status through the status subresource, from `obj` as read (409 if it changed since). */
  async writeStatus(obj: KubeObject, mutate: (s: StatusOf<K>) => StatusOf<K>): Promise<KubeObject> {
    const status = mutate({
      ...defaultStatus(this.kind),
      ...((obj.status as StatusOf<K> | undefined) ?? {}),
    });
    return (await this.api.replaceNamespacedCustomObjectStatus({
      ...this.where,
      name: obj.metadata.name,
      body: { ...obj, status: JSON.parse(JSON.stringify(status)) },
    })) as KubeObject;
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
    try {
      await this.replace({
        ...obj,
        metadata: {
          ...obj.metadata,
          finalizers: obj.metadata.finalizers.filter((f) => f !== WASMBED_FINALIZER),
        },
      });
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
