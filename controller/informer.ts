/**
 * A small informer: LIST, then WATCH from the list's resourceVersion, keeping a cache by name.
 * - every event advances the resourceVersion (bookmarks too), so a reconnect resumes where the
 *   last watch stopped and misses nothing;
 * - 410 Gone (the version was compacted away) drops the version and re-lists; objects that
 *   vanished meanwhile are reported as deleted;
 * - any other error (API server restarted, network) reconnects with capped backoff;
 * - every `resyncMs` each cached object is handed to the handler again, so a reconcile that
 *   failed quietly is retried even without a new event.
 */
import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../common/logger.js';
import type { KubeObject } from '../store/kubernetes-resource-store.js';
import { errorMessage } from '../common/errors.js';

export interface InformerOptions {
  kc: KubeConfig;
  group: string;
  version: string;
  plural: string;
  namespace: string;
  resyncMs: number;
  logger: Logger;
  /** Called for every change: the object, or undefined once it is gone. */
  onChange(name: string, obj: KubeObject | undefined): void;
}

class GoneError extends Error {}

export class Informer {
  readonly cache = new Map<string, KubeObject>();
  resourceVersion: string | undefined;
  /** Counts for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, gone: 0, errors: 0 };
  private stopped = false;
  private abort: AbortController | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private readonly api: CustomObjectsApi;
  private synced!: () => void;
  readonly hasSynced = new Promise<void>((resolve) => (this.synced = resolve));

  constructor(private readonly options: InformerOptions) {
    this.api = options.kc.makeApiClient(CustomObjectsApi);
  }

  start(): void {
    this.loop = this.run();
    this.resyncTimer = setInterval(() => {
      for (const [name, obj] of this.cache) this.options.onChange(name, obj);
    }, this.options.resyncMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.abort?.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    let backoff = 250;
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        await this.watchOnce();
        backoff = 250;
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof GoneError) {
          this.stats.gone++;
          this.options.logger.info('watch expired (410 Gone); re-listing', { plural: this.options.plural });
          this.resourceVersion = undefined;
          continue;
        }
        this.stats.errors++;
        this.options.logger.warn('watch failed; reconnecting', {
          plural: this.options.plural,
          error: errorMessage(err),
          retryInMs: backoff,
        });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  private async relist(): Promise<void> {
    const { group, version, plural, namespace } = this.options;
    const list = (await this.api.listNamespacedCustomObject({ group, version, namespace, plural })) as {
      metadata: { resourceVersion: string };
      items: KubeObject[];
    };
    this.stats.lists++;
    const seen = new Set<string>();
    for (const obj of list.items) {
      seen.add(obj.metadata.name);
      this.cache.set(obj.metadata.name, obj);
    }
    for (const name of [...this.cache.keys()]) {
      if (!seen.has(name)) {
        this.cache.delete(name);
        this.options.onChange(name, undefined);
      }
    }
    this.resourceVersion = list.metadata.resourceVersion;
    this.synced();
    for (const obj of list.items) this.options.onChange(obj.metadata.name, obj);
  }

  private watchOnce(): Promise<void> {
    const { group, version, plural, namespace } = this.options;
    return new Promise<void>((resolve, reject) => {
      let gone = false;
      const watch = new Watch(this.options.kc);
      this.stats.watches++;
      watch
        .watch(
          `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
          { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 },
          (type: string, obj: KubeObject & { code?: number; message?: string }) => {
            if (type === 'ERROR') {
              if (obj.code === 410) gone = true;
              else this.options.logger.warn('watch error event', { plural, message: obj.message });
              this.abort?.abort();
              return;
            }
            if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
            if (type === 'BOOKMARK') return;
            const name = obj.metadata.name;
            if (type === 'DELETED') {
              this.cache.delete(name);
              this.options.onChange(name, undefined);
            } else {
              this.cache.set(name, obj);
              this.options.onChange(name, obj);
            }
          },
          (err: unknown) => {
            if (gone || (err as { statusCode?: number } | null)?.statusCode === 410)
              reject(new GoneError('410 Gone'));
            else if (err && !(err instanceof Error && err.name === 'AbortError') && !this.stopped)
              reject(err);
            else resolve();
          },
        )
        .then((abort) => {
          this.abort = abort;
          if (this.stopped) abort.abort();
        })
        .catch(reject);
    });
  }

  /** Breaks the current watch connection (the informer reconnects); for tests and diagnostics. */
  disconnect(): void {
    this.abort?.abort();
  }
}
