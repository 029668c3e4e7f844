/**
 * Kubernetes backend of ResourceStore: Device, Gateway and Application live as custom resources
 * of group wasmbed.io/v1alpha1 (k8s/crds/). Nothing here blocks a thread.
 *
 * - Reads (get, list, listPage, countBy, revision) come from the process's informer cache
 *   (store/kubernetes-cache.ts, @kubernetes/client-node's ListWatch): no API call. A name the
 *   cache does not hold is confirmed with one GET, so a resource another process created a
 *   moment ago is not reported missing while its watch event is on the way.
 * - Writes go through the API (CustomObjectsApi): spec through the resource, status only through
 *   the status subresource. A read-modify-write starts from the cached object and carries its
 *   resourceVersion; 409 Conflict (someone wrote in between, or the cache lagged) re-reads with a
 *   GET and tries again, so `mutate` may run more than once and must be pure.
 * - A caller's own write is visible to its next read: the object the API returned is applied to
 *   the cache (KubeCache.remember) until the informer has caught up with it.
 * - `delete` reads with a GET, not the cache: removing the controller's finalizer must not miss
 *   one added a moment ago by another process.
 */
import { ApiException, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { AlreadyExistsError, NotFoundError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { API_VERSION, type KindMap, type ResourceKind } from '../common/resources.js';
import { KubeCache, type CacheEvent } from './kubernetes-cache.js';
import { makeKeepAliveApiClient } from './kubernetes-client.js';
import {
  KUBE_GROUP,
  KUBE_VERSION,
  KubernetesApiError,
  PLURALS,
  WASMBED_FINALIZER,
  fromKube,
  type KubeObject,
} from './kubernetes-objects.js';
import {
  fieldValue,
  matches,
  pageOf,
  resolveQuery,
  type FilterField,
  type ListPage,
  type ListQuery,
} from './list-query.js';
import {
  inScope,
  type NewResource,
  type ResourceStore,
  type SpecOf,
  type StatusOf,
  type StoreEvent,
  type WatchScope,
} from './resource-store.js';

const KINDS: ResourceKind[] = ['Device', 'Gateway', 'Application'];
/**
 * Many writers of one object (every device event of a rollout updates its Application) lose
 * to each other round after round: after a 409 each waits a random while, growing with its
 * attempts up to CONFLICT_BACKOFF_MAX_MS, so the next round's writes spread out instead of
 * colliding again.
 */
const MAX_CONFLICT_RETRIES = 60;
const CONFLICT_BACKOFF_MAX_MS = 250;
const conflictBackoff = (attempt: number) =>
  new Promise((resolve) =>
    setTimeout(resolve, Math.random() * Math.min(CONFLICT_BACKOFF_MAX_MS, 5 * 2 ** attempt)),
  );

/** Drops undefined members (JSON would) so that comparisons and PUT bodies are stable. */
function clean<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? {})) as T;
}

/** The API server's message out of an ApiException (its body is a Status object). */
function apiError(err: unknown, what: string): unknown {
  if (!(err instanceof ApiException)) return err;
  let message = String(err.body ?? err.message);
  try {
    message = (JSON.parse(String(err.body)) as { message?: string }).message ?? message;
  } catch {
    /* not JSON */
  }
  return new KubernetesApiError(err.code, `${what}: ${message}`);
}

const isStatus = (err: unknown, code: number) => err instanceof KubernetesApiError && err.status === code;

export interface KubernetesResourceStoreOptions {
  namespace: string;
  /** kubeconfig file; without it the default loading rules apply (KUBECONFIG, in-cluster, ~/.kube). */
  kubeconfig?: string;
  /** A cache to share (the controller process shares one with its controllers); else its own. */
  cache?: KubeCache;
  logger?: Logger;
}

export class KubernetesResourceStore implements ResourceStore {
  readonly namespace: string;
  readonly cache: KubeCache;
  private readonly api: CustomObjectsApi;
  private readonly ownsCache: boolean;

  constructor(options: KubernetesResourceStoreOptions) {
    this.namespace = options.namespace;
    const kc = new KubeConfig();
    if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
    this.api = makeKeepAliveApiClient(kc, CustomObjectsApi);
    this.ownsCache = !options.cache;
    this.cache = options.cache ?? new KubeCache({ kc, namespace: options.namespace, logger: options.logger });
  }

  private where(kind: ResourceKind) {
    return { group: KUBE_GROUP, version: KUBE_VERSION, namespace: this.namespace, plural: PLURALS[kind] };
  }

  /** The object as the API server has it now (one GET); the cache learns it too. */
  private async fresh(kind: ResourceKind, name: string): Promise<KubeObject | undefined> {
    try {
      const obj = (await this.api.getNamespacedCustomObject({ ...this.where(kind), name })) as KubeObject;
      this.cache.remember(kind, obj);
      return obj;
    } catch (err) {
      const e = apiError(err, `get ${kind} ${name}`);
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  /** From the cache; a miss is confirmed with a GET (the watch event may still be on its way). */
  private async current(kind: ResourceKind, name: string): Promise<KubeObject | undefined> {
    return (await this.cache.get(kind, name)) ?? this.fresh(kind, name);
  }

  /**
   * A read-modify-write: the first try starts from the cache, a retry after 409 Conflict from a
   * fresh GET (the cache may not have the write that beat us yet).
   */
  private async withConflictRetry<T>(
    kind: ResourceKind,
    name: string,
    work: (obj: KubeObject | undefined) => Promise<T>,
    readFresh = false,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const obj = readFresh || attempt > 1 ? await this.fresh(kind, name) : await this.current(kind, name);
      try {
        return await work(obj);
      } catch (err) {
        if (!isStatus(err, 409) || attempt >= MAX_CONFLICT_RETRIES) throw err;
        await conflictBackoff(attempt);
      }
    }
  }

  private async replace(kind: ResourceKind, obj: KubeObject): Promise<KubeObject> {
    try {
      const result = (await this.api.replaceNamespacedCustomObject({
        ...this.where(kind),
        name: obj.metadata.name,
        body: obj,
      })) as KubeObject;
      this.cache.remember(kind, result);
      return result;
    } catch (err) {
      throw apiError(err, `replace ${kind} ${obj.metadata.name}`);
    }
  }

  private async writeStatus(kind: ResourceKind, obj: KubeObject, status: unknown): Promise<KubeObject> {
    try {
      const result = (await this.api.replaceNamespacedCustomObjectStatus({
        ...this.where(kind),
        name: obj.metadata.name,
        body: { ...obj, status: clean(status) },
      })) as KubeObject;
      this.cache.remember(kind, result);
      return result;
    } catch (err) {
      throw apiError(err, `write the status of ${kind} ${obj.metadata.name}`);
    }
  }

  /** The store's copy: callers may change what they get without touching the cache. */
  private view<K extends ResourceKind>(kind: K, obj: KubeObject): KindMap[K] {
    return structuredClone(fromKube(kind, obj));
  }

  async get<K extends ResourceKind>(kind: K, name: string): Promise<KindMap[K] | undefined> {
    const obj = await this.current(kind, name);
    return obj ? this.view(kind, obj) : undefined;
  }

  async list<K extends ResourceKind>(kind: K): Promise<KindMap[K][]> {
    return (await this.cache.list(kind))
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0))
      .map((obj) => this.view(kind, obj));
  }

  /**
   * Status fields cannot be field selectors on custom resources: filtered and paged in memory,
   * over the cache; only the page is copied.
   */
  async listPage<K extends ResourceKind>(kind: K, query: ListQuery = {}): Promise<ListPage<KindMap[K]>> {
    const all = (await this.cache.list(kind)).map((obj) => fromKube(kind, obj));
    const page = pageOf(kind, all, query);
    return { ...page, items: page.items.map((item) => structuredClone(item)) };
  }

  async countBy(
    kind: ResourceKind,
    field: FilterField,
    query: ListQuery = {},
  ): Promise<Record<string, number>> {
    const resolved = resolveQuery(kind, { ...query, continue: undefined });
    const counts: Record<string, number> = {};
    for (const obj of await this.cache.list(kind)) {
      const item = fromKube(kind, obj);
      if (!matches(item, resolved)) continue;
      const value = String(fieldValue(item, field) ?? '');
      counts[value] = (counts[value] ?? 0) + 1;
    }
    return counts;
  }

  /**
   * The API server has no multi-object transaction: creates them in order and, when one fails,
   * deletes the ones this call created, then throws (AlreadyExistsError naming the taken name).
   * Another process may see the first ones for that moment.
   */
  async createMany<K extends ResourceKind>(kind: K, items: NewResource<K>[]): Promise<KindMap[K][]> {
    const created: KindMap[K][] = [];
    try {
      for (const item of items)
        created.push(await this.create(kind, item.name, item.spec, item.status, item.labels));
      return created;
    } catch (err) {
      for (const resource of created.reverse()) await this.delete(kind, resource.metadata.name);
      throw err;
    }
  }

  async create<K extends ResourceKind>(
    kind: K,
    name: string,
    spec: SpecOf<K>,
    status: StatusOf<K>,
    labels: Record<string, string> = {},
  ): Promise<KindMap[K]> {
    let created: KubeObject;
    try {
      created = (await this.api.createNamespacedCustomObject({
        ...this.where(kind),
        body: {
          apiVersion: API_VERSION,
          kind,
          metadata: { name, namespace: this.namespace, labels },
          spec: clean(spec),
        },
      })) as KubeObject;
    } catch (err) {
      const e = apiError(err, `create ${kind} ${name}`);
      if (isStatus(e, 409)) throw new AlreadyExistsError(kind, name);
      throw e;
    }
    this.cache.remember(kind, created);
    // Status is ignored on create when the status subresource is on: write it separately.
    let withStatus: KubeObject;
    try {
      withStatus = await this.writeStatus(kind, created, status);
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      withStatus = await this.withConflictRetry(
        kind,
        name,
        async (obj) => {
          if (!obj) throw new NotFoundError(kind, name);
          return this.writeStatus(kind, obj, status);
        },
        true,
      );
    }
    return this.view(kind, withStatus);
  }

  async upsert<K extends ResourceKind>(
    kind: K,
    name: string,
    spec: SpecOf<K>,
    status: StatusOf<K>,
  ): Promise<KindMap[K]> {
    return this.withConflictRetry(kind, name, async (found) => {
      let obj = found;
      if (!obj) {
        try {
          return await this.create(kind, name, spec, status);
        } catch (err) {
          if (!(err instanceof AlreadyExistsError)) throw err;
          throw new KubernetesApiError(409, `${kind} ${name} appeared concurrently`);
        }
      }
      // Status first, then spec (a new generation): whoever reacts to the new generation, like
      // the controller claiming its rollout (services/rollout-claim.ts), writes on top of this
      // status instead of having its write replaced by it a moment later.
      if (JSON.stringify(clean(obj.status)) !== JSON.stringify(clean(status))) {
        obj = await this.writeStatus(kind, obj, status);
      }
      if (JSON.stringify(clean(obj.spec)) !== JSON.stringify(clean(spec))) {
        obj = await this.replace(kind, { ...obj, spec: clean(spec) });
      }
      return this.view(kind, obj);
    });
  }

  async updateStatus<K extends ResourceKind>(
    kind: K,
    name: string,
    mutate: (status: StatusOf<K>) => StatusOf<K>,
  ): Promise<KindMap[K]> {
    return this.withConflictRetry(kind, name, async (obj) => {
      if (!obj) throw new NotFoundError(kind, name);
      const current = fromKube(kind, obj);
      const next = mutate(structuredClone(current.status as StatusOf<K>));
      return this.view(kind, await this.writeStatus(kind, obj, next));
    });
  }

  /**
   * Deletes the resource for good. With the controller's finalizer on it, DELETE only marks it
   * (deletionTimestamp) and the finalizer is then removed here: this is called by the last step
   * of deprovisioning, so the resource goes only after the device is cleaned up.
   */
  async delete(kind: ResourceKind, name: string): Promise<boolean> {
    const obj = await this.fresh(kind, name);
    if (!obj) return false;
    if (!obj.metadata.deletionTimestamp) {
      try {
        const result = (await this.api.deleteNamespacedCustomObject({
          ...this.where(kind),
          name,
          propagationPolicy: 'Background',
        })) as KubeObject | { kind: 'Status' };
        // Held by a finalizer: the marked object; gone at once: a Status.
        if (
          'metadata' in result &&
          result.metadata?.deletionTimestamp &&
          result.metadata.finalizers?.length
        ) {
          this.cache.remember(kind, result);
        } else {
          this.cache.forget(kind, obj);
          return true;
        }
      } catch (err) {
        const e = apiError(err, `delete ${kind} ${name}`);
        if (!isStatus(e, 404)) throw e;
        this.cache.forget(kind, obj);
        return true;
      }
    }
    await this.removeFinalizer(kind, name);
    return true;
  }

  /** Removes Wasmbed's finalizer (read with a GET); tolerates a resource that is already gone. */
  async removeFinalizer(kind: ResourceKind, name: string): Promise<void> {
    await this.withConflictRetry(
      kind,
      name,
      async (obj) => {
        if (!obj?.metadata.finalizers?.includes(WASMBED_FINALIZER)) return;
        const finalizers = obj.metadata.finalizers.filter((f) => f !== WASMBED_FINALIZER);
        try {
          const result = await this.replace(kind, { ...obj, metadata: { ...obj.metadata, finalizers } });
          if (result.metadata.deletionTimestamp && finalizers.length === 0) this.cache.forget(kind, result);
        } catch (err) {
          if (!isStatus(err, 404)) throw err;
          this.cache.forget(kind, obj);
        }
      },
      true,
    );
  }

  /** Grows with every change this process saw; from the informers' events, no API call. */
  async revision(): Promise<number> {
    await Promise.all(KINDS.map((kind) => this.cache.ready(kind)));
    return this.cache.revision();
  }

  /** Informer events of one kind (or all), of one name (or all); returns the unsubscribe function. */
  watch(scope: WatchScope, listener: (event: StoreEvent) => void): () => void {
    for (const kind of scope.kind ? [scope.kind] : KINDS) {
      // Starts the informer; a failure shows in its log and in the next read.
      this.cache.ready(kind).catch(() => undefined);
    }
    return this.cache.subscribe((event: CacheEvent) => {
      const change: StoreEvent = { type: event.type, kind: event.kind, name: event.name };
      if (inScope(scope, change)) listener(change);
    });
  }

  async close(): Promise<void> {
    if (this.ownsCache) await this.cache.stop();
  }
}
