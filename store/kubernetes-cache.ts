/**
 * What one process knows of the wasmbed.io custom resources: per kind, @kubernetes/client-node's
 * ListWatch informer (LIST, then WATCH from the list's resourceVersion; a watch that ends resumes
 * from the last event's version; 410 Gone drops the version and re-lists, reporting what vanished
 * as deleted), started on first use. The library does not reconnect after an error (API server
 * restarted, connection cut): this restarts it with capped backoff, from the version it had.
 *
 * Own writes: the informer learns of a write only when its watch event arrives, a few
 * milliseconds after the API call returned. So that a caller's next read sees its own write, the
 * object the API returned is kept beside the informer's cache (`remember`, `forget`) until the
 * informer has caught up with it: until its latest resourceVersion reaches the write's. Reads
 * take the newer of the two. resourceVersions are compared as numbers: opaque in the API, they are
 * etcd revisions on every etcd-backed API server, the same order the watch delivers them in.
 */
import {
  CustomObjectsApi,
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { WasmbedError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { ResourceKind } from '../common/resources.js';
import { makeKeepAliveApiClient } from './kubernetes-client.js';
import { KUBE_GROUP, KUBE_VERSION, PLURALS, type KubeObject } from './kubernetes-objects.js';

/** One change the informer delivered. */
export interface CacheEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  kind: ResourceKind;
  name: string;
  object: KubeObject;
}

export interface KubeCacheOptions {
  kc: KubeConfig;
  namespace: string;
  logger?: Logger;
  /** How long a read waits for the first LIST before it fails (ms, default 30 s). */
  syncTimeoutMs?: number;
}

export class CacheNotSyncedError extends WasmbedError {
  constructor(kind: ResourceKind, waitedMs: number, cause?: unknown) {
    super(
      'KubernetesCacheNotSynced',
      `the ${kind} informer has not listed the API server's ${PLURALS[kind]} after ${waitedMs} ms` +
        (cause ? `: ${errorMessage(cause)}` : ''),
      { cause },
    );
  }
}

const rv = (obj: KubeObject | undefined): number => Number(obj?.metadata.resourceVersion ?? 0) || 0;

/** One kind: the library's informer, plus this process's writes it has not delivered yet. */
class KindCache {
  /** The library types metadata timestamps as Date; the JSON it caches holds strings (KubeObject). */
  private readonly informer: ListWatch<KubernetesObject>;
  /** Objects this process wrote, newer than the informer's copy. */
  private readonly written = new Map<string, KubeObject>();
  /** uid and resourceVersion of objects this process deleted that the informer still holds. */
  private readonly deleted = new Map<string, { uid: string; rv: number }>();
  private started: Promise<void> | undefined;
  private synced = false;
  private markSynced!: () => void;
  private failSync!: (err: Error) => void;
  private readonly firstSync = new Promise<void>((resolve, reject) => {
    this.markSynced = resolve;
    this.failSync = reject;
  });
  private lastError: unknown;
  private stopped = false;
  private backoffMs = 250;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly kind: ResourceKind,
    private readonly options: KubeCacheOptions,
    onEvent: (event: CacheEvent) => void,
  ) {
    const api = makeKeepAliveApiClient(options.kc, CustomObjectsApi);
    const plural = PLURALS[kind];
    const where = { group: KUBE_GROUP, version: KUBE_VERSION, namespace: options.namespace, plural };
    this.informer = new ListWatch<KubernetesObject>(
      `/apis/${KUBE_GROUP}/${KUBE_VERSION}/namespaces/${options.namespace}/${plural}`,
      new Watch(options.kc),
      () => api.listNamespacedCustomObject(where) as Promise<KubernetesListObject<KubernetesObject>>,
      false,
    );
    this.firstSync.catch(() => undefined); // stop() before the first list: only waiting readers care
    const deliver = (type: CacheEvent['type']) => (listed: KubernetesObject) => {
      const object = listed as unknown as KubeObject;
      if (type === 'DELETED') this.deletedNow(object);
      this.settle(object.metadata.name);
      onEvent({ type, kind, name: object.metadata.name, object });
    };
    this.informer.on('add', deliver('ADDED'));
    this.informer.on('update', deliver('MODIFIED'));
    this.informer.on('delete', deliver('DELETED'));
    this.informer.on('connect', () => {
      // The library re-lists (empty version) only at the start and after 410 Gone.
      if (this.synced && this.informer.latestResourceVersion() === '') {
        options.logger?.info('watch expired (410 Gone); re-listing', { plural });
      }
    });
    this.informer.on('error', (err: unknown) => {
      this.lastError = err;
      // stop() aborts the watch, which the library reports as an error too.
      if (this.stopped) return;
      options.logger?.warn('watch failed; reconnecting', {
        plural,
        error: errorMessage(err),
        retryInMs: this.backoffMs,
      });
      this.restartTimer = setTimeout(() => void this.run(), this.backoffMs);
      this.restartTimer.unref();
      this.backoffMs = Math.min(this.backoffMs * 2, 10_000);
    });
  }

  /** Starts the informer once; resolves when it has listed (or throws after the sync timeout). */
  async ready(): Promise<void> {
    if (this.synced) return;
    this.started ??= this.run();
    const timeoutMs = this.options.syncTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new CacheNotSyncedError(this.kind, timeoutMs, this.lastError)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.firstSync, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    this.lastError = undefined;
    // Resolves once the list is in and the watch connected, or after an error was reported.
    await this.informer.start();
    if (this.informer.latestResourceVersion() !== '' && this.lastError === undefined) {
      this.synced = true;
      this.markSynced();
      this.backoffMs = 250;
    }
  }

  private cached(name: string): KubeObject | undefined {
    return this.informer.get(name, this.options.namespace) as unknown as KubeObject | undefined;
  }

  /** Drops what the informer has caught up with (its latest version reached the write's). */
  private settle(name: string): void {
    const latest = Number(this.informer.latestResourceVersion()) || 0;
    const written = this.written.get(name);
    const cached = this.cached(name);
    if (written && (rv(cached) >= rv(written) || latest >= rv(written))) this.written.delete(name);
    const gone = this.deleted.get(name);
    const replaced = cached !== undefined && cached.metadata.uid !== gone?.uid;
    if (gone && (replaced || (!cached && latest > gone.rv))) {
      this.deleted.delete(name);
    }
  }

  /** The informer saw the object go: whatever this process wrote to or deleted of it is moot. */
  private deletedNow(obj: KubeObject): void {
    const name = obj.metadata.name;
    if (this.written.get(name)?.metadata.uid === obj.metadata.uid) this.written.delete(name);
    if (this.deleted.get(name)?.uid === obj.metadata.uid) this.deleted.delete(name);
  }

  get(name: string): KubeObject | undefined {
    this.settle(name);
    const cached = this.cached(name);
    const written = this.written.get(name);
    const gone = this.deleted.get(name);
    const newest = written && rv(written) > rv(cached) ? written : cached;
    if (newest && gone && newest.metadata.uid === gone.uid) return undefined;
    return newest;
  }

  list(): KubeObject[] {
    const names = new Set([
      ...this.informer.list(this.options.namespace).map((o) => o.metadata!.name!),
      ...this.written.keys(),
    ]);
    const objects: KubeObject[] = [];
    for (const name of names) {
      const obj = this.get(name);
      if (obj) objects.push(obj);
    }
    return objects;
  }

  remember(obj: KubeObject): void {
    const name = obj.metadata.name;
    if (rv(obj) <= rv(this.get(name))) return;
    this.written.set(name, obj);
    if (this.deleted.get(name)?.uid !== obj.metadata.uid) this.deleted.delete(name);
  }

  forget(obj: KubeObject): void {
    this.written.delete(obj.metadata.name);
    this.deleted.set(obj.metadata.name, { uid: obj.metadata.uid, rv: rv(obj) });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.failSync(new WasmbedError('StoreClosed', 'the Kubernetes store is closed'));
    clearTimeout(this.restartTimer);
    await this.informer.stop();
  }
}

export class KubeCache {
  readonly namespace: string;
  private readonly kinds = new Map<ResourceKind, KindCache>();
  private readonly listeners = new Set<(event: CacheEvent) => void>();
  private changes = 0;

  constructor(private readonly options: KubeCacheOptions) {
    this.namespace = options.namespace;
  }

  private of(kind: ResourceKind): KindCache {
    let cache = this.kinds.get(kind);
    if (!cache) {
      cache = new KindCache(kind, this.options, (event) => {
        this.changes++;
        for (const listener of this.listeners) listener(event);
      });
      this.kinds.set(kind, cache);
    }
    return cache;
  }

  /** Starts the kind's informer if needed and waits for its first LIST. */
  ready(kind: ResourceKind): Promise<void> {
    return this.of(kind).ready();
  }

  /** The object as this process last knew it (its own writes included); no API call. */
  async get(kind: ResourceKind, name: string): Promise<KubeObject | undefined> {
    await this.ready(kind);
    return this.of(kind).get(name);
  }

  async list(kind: ResourceKind): Promise<KubeObject[]> {
    await this.ready(kind);
    return this.of(kind).list();
  }

  /** How many objects of the kind are cached (0 before the informer started); for metrics. */
  size(kind: ResourceKind): number {
    return this.kinds.get(kind)?.list().length ?? 0;
  }

  /** An object an API call of this process returned: reads see it until the informer has it. */
  remember(kind: ResourceKind, obj: KubeObject): void {
    this.changes++;
    this.of(kind).remember(obj);
  }

  /** An object this process deleted: reads no longer see it, whatever the informer still holds. */
  forget(kind: ResourceKind, obj: KubeObject): void {
    this.changes++;
    this.of(kind).forget(obj);
  }

  /** Grows with every change this process saw (informer events and its own writes); no API call. */
  revision(): number {
    return this.changes;
  }

  /** Every informer event of every started kind; returns the unsubscribe function. */
  subscribe(listener: (event: CacheEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    await Promise.all([...this.kinds.values()].map((c) => c.stop()));
  }
}
