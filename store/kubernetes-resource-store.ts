/**
 * Kubernetes backend of ResourceStore: Device, Gateway and Application live as custom resources
 * of group wasmbed.io/v1alpha1 (k8s/crds/). Spec is written through the resource, status only
 * through the status subresource; read-modify-write of status uses the resourceVersion for
 * optimistic concurrency and retries on 409 Conflict, which gives the same "one transaction"
 * promise as the SQLite backend.
 *
 * ResourceStore is asynchronous, but this backend still makes its API calls on a worker thread
 * (kubernetes-store-worker.mjs) while this thread blocks on Atomics.wait until the answer is
 * back (a few milliseconds against a nearby API server): a stopgap until it reads from the
 * client library's informer cache (issue 16). Keep that in mind before calling the store in a
 * hot loop (see docs/kubernetes.md).
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { AlreadyExistsError, NotFoundError, WasmbedError } from '../common/errors.js';
import {
  API_VERSION,
  type ApplicationSpec,
  type ApplicationStatus,
  type KindMap,
  type ObjectMeta,
  type ResourceKind,
} from '../common/resources.js';
import {
  fieldValue,
  matches,
  pageOf,
  resolveQuery,
  type FilterField,
  type ListPage,
  type ListQuery,
} from './list-query.js';
import { ListPollingWatch } from './list-polling-watch.js';
import type {
  NewResource,
  ResourceStore,
  SpecOf,
  StatusOf,
  StoreEvent,
  WatchScope,
} from './resource-store.js';

export const WASMBED_FINALIZER = 'wasmbed.io/deprovision';
export const PLURALS: Record<ResourceKind, string> = {
  Device: 'devices',
  Gateway: 'gateways',
  Application: 'applications',
};

/** The status a resource has before anything wrote one (e.g. just applied with kubectl). */
export function defaultStatus<K extends ResourceKind>(kind: K): StatusOf<K> {
  const byKind: { [k in ResourceKind]: StatusOf<k> } = {
    Device: { phase: 'Pending', conditions: [], apps: {} },
    Gateway: { phase: 'Pending', connectedDevices: 0, conditions: [] },
    Application: {
      phase: 'Pending',
      devices: {},
      counts: { targeted: 0, running: 0, failed: 0, pending: 0 },
    },
  };
  return byKind[kind] as StatusOf<K>;
}

/** A custom object as the API server returns it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    uid: string;
    generation?: number;
    resourceVersion: string;
    creationTimestamp: string;
    deletionTimestamp?: string;
    finalizers?: string[];
  };
  spec?: unknown;
  status?: unknown;
}

/** The store's view of a custom object: defaults filled in, extra metadata kept. */
export function fromKube<K extends ResourceKind>(kind: K, obj: KubeObject): KindMap[K] {
  const m = obj.metadata;
  const metadata: ObjectMeta & { deletionTimestamp?: string; finalizers?: string[] } = {
    name: m.name,
    namespace: m.namespace,
    labels: m.labels ?? {},
    uid: m.uid,
    generation: m.generation ?? 1,
    resourceVersion: m.resourceVersion,
    creationTimestamp: m.creationTimestamp,
    ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    ...(m.finalizers?.length ? { finalizers: m.finalizers } : {}),
  };
  const status = { ...defaultStatus(kind), ...((obj.status as object | undefined) ?? {}) };
  let spec = obj.spec ?? {};
  if (kind === 'Application')
    spec = withResolvedModule(spec as ApplicationCrSpec, status as ApplicationStatus);
  return { apiVersion: API_VERSION, kind, metadata, spec, status } as unknown as KindMap[K];
}

/** An Application CR's spec.module: an uploaded module's hash, or a ConfigMap key (docs/kubernetes.md). */
export interface ApplicationCrModule {
  sha256?: string;
  size?: number;
  configMapKeyRef?: { name: string; key: string };
}
type ApplicationCrSpec = Omit<ApplicationSpec, 'module'> & { module?: ApplicationCrModule };

/**
 * The rest of the platform knows one form of spec.module, {sha256, size}. An Application CR
 * may name a ConfigMap key instead (or leave out the size); once the controller resolved it
 * (status.resolvedModule) the store shows the resolved reference, so activities, workflows and
 * the dashboard read CRs and REST-created Applications alike. Until then the source is shown.
 * The one field the CRD cannot default, limits.cpuMsPerCall (null: no limit), is filled in.
 */
function withResolvedModule(spec: ApplicationCrSpec, status: ApplicationStatus): ApplicationCrSpec {
  const resolved = status.resolvedModule;
  const source = spec.module ?? {};
  const limits = spec.limits
    ? { ...spec.limits, cpuMsPerCall: spec.limits.cpuMsPerCall ?? null }
    : spec.limits;
  if (!resolved || (source.sha256 !== undefined && source.sha256 !== resolved.sha256)) {
    return { ...spec, limits };
  }
  return { ...spec, limits, module: { sha256: resolved.sha256, size: resolved.size } };
}

/** Drops undefined members (JSON would) so that comparisons and PUT bodies are stable. */
function clean<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? {})) as T;
}

export class KubernetesApiError extends WasmbedError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super('KubernetesApiError', `Kubernetes API: ${message} (HTTP ${status || 'error'})`);
  }
}

export interface KubernetesResourceStoreOptions {
  namespace: string;
  /** kubeconfig file; without it the default loading rules apply (KUBECONFIG, in-cluster, ~/.kube). */
  kubeconfig?: string;
  /** How long one API call may take before the store gives up (ms). */
  timeoutMs?: number;
}

export class KubernetesResourceStore implements ResourceStore {
  readonly namespace: string;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag: Int32Array;
  private readonly timeoutMs: number;
  private closed = false;
  private readonly changes = new ListPollingWatch((kind) => this.list(kind));

  constructor(options: KubernetesResourceStoreOptions) {
    this.namespace = options.namespace;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    const signal = new SharedArrayBuffer(4);
    this.flag = new Int32Array(signal);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL('./kubernetes-store-worker.mjs', import.meta.url), {
      workerData: { signal, port: port2, kubeconfig: options.kubeconfig },
      transferList: [port2],
      execArgv: [],
    });
    this.worker.unref();
    this.port.unref();
  }

  /** One API call, synchronously. Throws KubernetesApiError; 404 becomes undefined when allowed. */
  private call(op: string, args: Record<string, unknown>): unknown {
    if (this.closed) throw new WasmbedError('StoreClosed', 'the Kubernetes store is closed');
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ op, args: { namespace: this.namespace, ...args } });
    const waited = Atomics.wait(this.flag, 0, 0, this.timeoutMs);
    const message = receiveMessageOnPort(this.port);
    if (waited === 'timed-out' && !message) {
      throw new KubernetesApiError(0, `${op} timed out after ${this.timeoutMs} ms`);
    }
    const reply = message!.message as
      { ok: true; result: unknown } | { ok: false; error: { code: number; message: string } };
    if (!reply.ok) throw new KubernetesApiError(reply.error.code, reply.error.message);
    return reply.result;
  }

  private getRaw(kind: ResourceKind, name: string): KubeObject | undefined {
    try {
      return this.call('get', { plural: PLURALS[kind], name }) as KubeObject;
    } catch (err) {
      if (err instanceof KubernetesApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Retries a read-modify-write on 409 Conflict (someone wrote in between). */
  private async withConflictRetry<T>(work: () => Promise<T> | T): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (err) {
        if (!(err instanceof KubernetesApiError) || err.status !== 409 || attempt >= 20) throw err;
      }
    }
  }

  private writeStatus(kind: ResourceKind, obj: KubeObject, status: unknown): KubeObject {
    return this.call('replaceStatus', {
      plural: PLURALS[kind],
      name: obj.metadata.name,
      body: { ...obj, status: clean(status) },
    }) as KubeObject;
  }

  async get<K extends ResourceKind>(kind: K, name: string): Promise<KindMap[K] | undefined> {
    const obj = this.getRaw(kind, name);
    return obj ? fromKube(kind, obj) : undefined;
  }

  async list<K extends ResourceKind>(kind: K): Promise<KindMap[K][]> {
    const result = this.call('list', { plural: PLURALS[kind] }) as { items: KubeObject[] };
    return result.items
      .map((obj) => fromKube(kind, obj))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  /**
   * Status fields cannot be field selectors on custom resources, so this backend filters and
   * pages the list in memory (the list itself is one API call).
   */
  async listPage<K extends ResourceKind>(kind: K, query: ListQuery = {}): Promise<ListPage<KindMap[K]>> {
    return pageOf(kind, await this.list(kind), query);
  }

  async countBy(
    kind: ResourceKind,
    field: FilterField,
    query: ListQuery = {},
  ): Promise<Record<string, number>> {
    const resolved = resolveQuery(kind, { ...query, continue: undefined });
    const counts: Record<string, number> = {};
    for (const item of await this.list(kind)) {
      if (!matches(item, resolved)) continue;
      const value = String(fieldValue(item, field) ?? '');
      counts[value] = (counts[value] ?? 0) + 1;
    }
    return counts;
  }

  /** The API server has no multi-object transaction: create one by one, delete them again on failure. */
  async createMany<K extends ResourceKind>(kind: K, items: NewResource<K>[]): Promise<KindMap[K][]> {
    const created: KindMap[K][] = [];
    try {
      for (const item of items)
        created.push(await this.create(kind, item.name, item.spec, item.status, item.labels));
      return created;
    } catch (err) {
      for (const resource of created) await this.delete(kind, resource.metadata.name);
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
      created = this.call('create', {
        plural: PLURALS[kind],
        body: {
          apiVersion: API_VERSION,
          kind,
          metadata: { name, namespace: this.namespace, labels },
          spec: clean(spec),
        },
      }) as KubeObject;
    } catch (err) {
      if (err instanceof KubernetesApiError && err.status === 409) throw new AlreadyExistsError(kind, name);
      throw err;
    }
    // Status is ignored on create when the status subresource is on: write it separately.
    const withStatus = await this.withConflictRetry(() => {
      const current = this.getRaw(kind, name) ?? created;
      return this.writeStatus(kind, current, status);
    });
    return fromKube(kind, withStatus);
  }

  async upsert<K extends ResourceKind>(
    kind: K,
    name: string,
    spec: SpecOf<K>,
    status: StatusOf<K>,
  ): Promise<KindMap[K]> {
    return this.withConflictRetry(async () => {
      let obj = this.getRaw(kind, name);
      if (!obj) {
        try {
          return await this.create(kind, name, spec, status);
        } catch (err) {
          if (!(err instanceof AlreadyExistsError)) throw err;
          throw new KubernetesApiError(409, `${kind} ${name} appeared concurrently`);
        }
      }
      if (JSON.stringify(clean(obj.spec)) !== JSON.stringify(clean(spec))) {
        obj = this.call('replace', {
          plural: PLURALS[kind],
          name,
          body: { ...obj, spec: clean(spec) },
        }) as KubeObject;
      }
      return fromKube(kind, this.writeStatus(kind, obj, status));
    });
  }

  updateStatus<K extends ResourceKind>(
    kind: K,
    name: string,
    mutate: (status: StatusOf<K>) => StatusOf<K>,
  ): Promise<KindMap[K]> {
    return this.withConflictRetry(() => {
      const obj = this.getRaw(kind, name);
      if (!obj) throw new NotFoundError(kind, name);
      const current = fromKube(kind, obj);
      const next = mutate(structuredClone(current.status as StatusOf<K>));
      return fromKube(kind, this.writeStatus(kind, obj, next));
    });
  }

  /**
   * Deletes the resource for good. With the controller's finalizer on it, DELETE only marks it
   * (deletionTimestamp) and the finalizer is then removed here: this is called by the last step
   * of deprovisioning, so the resource goes only after the device is cleaned up.
   */
  async delete(kind: ResourceKind, name: string): Promise<boolean> {
    const obj = this.getRaw(kind, name);
    if (!obj) return false;
    if (!obj.metadata.deletionTimestamp) {
      try {
        this.call('delete', { plural: PLURALS[kind], name, propagationPolicy: 'Background' });
      } catch (err) {
        if (err instanceof KubernetesApiError && err.status === 404) return true;
        throw err;
      }
    }
    await this.removeFinalizer(kind, name);
    return true;
  }

  /** Removes Wasmbed's finalizer; tolerates a resource that is already gone. */
  async removeFinalizer(kind: ResourceKind, name: string): Promise<void> {
    await this.withConflictRetry(() => {
      const obj = this.getRaw(kind, name);
      if (!obj?.metadata.finalizers?.includes(WASMBED_FINALIZER)) return;
      try {
        this.call('replace', {
          plural: PLURALS[kind],
          name,
          body: {
            ...obj,
            metadata: {
              ...obj.metadata,
              finalizers: obj.metadata.finalizers.filter((f) => f !== WASMBED_FINALIZER),
            },
          },
        });
      } catch (err) {
        if (!(err instanceof KubernetesApiError) || err.status !== 404) throw err;
      }
    });
  }

  /**
   * The change feed by listing the watched kinds every second and comparing resourceVersions: a
   * stopgap until this backend reads from an informer (store/kubernetes-informer-store.ts).
   */
  watch(scope: WatchScope, listener: (event: StoreEvent) => void): () => void {
    return this.changes.watch(scope, listener);
  }

  /** The API server's resourceVersion (the etcd revision): grows with every write. */
  async revision(): Promise<number> {
    let max = 0;
    for (const plural of Object.values(PLURALS)) {
      const result = this.call('list', { plural, limit: 1 }) as { metadata?: { resourceVersion?: string } };
      max = Math.max(max, Number(result.metadata?.resourceVersion ?? 0) || 0);
    }
    return max;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.changes.stop();
    this.port.close();
    await this.worker.terminate();
  }
}
