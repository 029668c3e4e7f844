/**
 * What the Device, Application and Gateway controllers share: the process's informer cache
 * (store/kubernetes-cache.ts) feeding a per-name work queue, a periodic resync, and a background
 * wait on a workflow run that reconciles the resource again when the run ends.
 */
import type { Client } from '@temporalio/client';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../common/logger.js';
import type { ResourceKind } from '../common/resources.js';
import type { KubeCache } from '../store/kubernetes-cache.js';
import { WorkQueue } from './work-queue.js';

export interface ResourceControllerOptions {
  kc: KubeConfig;
  namespace: string;
  /** Shared by the controllers (and the store) of the process: one watch per kind. */
  cache: KubeCache;
  resyncMs: number;
  logger: Logger;
}

export abstract class ResourceController {
  protected readonly queue: WorkQueue;
  private readonly awaiting = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly kind: ResourceKind,
    /** Singular, for logs: `device`. */
    what: string,
    private readonly shared: ResourceControllerOptions,
  ) {
    this.queue = new WorkQueue(what, (name) => this.reconcile(name), shared.logger);
  }

  abstract reconcile(name: string): Promise<void>;

  /**
   * Reconciles on every add and update the informer delivers, and every cached object once now
   * and every `resyncMs` (a reconcile that failed quietly is retried without a new event).
   * Resolves once the informer has listed.
   */
  async start(): Promise<void> {
    const { cache, resyncMs } = this.shared;
    this.unsubscribe = cache.subscribe((event) => {
      if (event.kind === this.kind && event.type !== 'DELETED') this.enqueue(event.name);
    });
    await cache.ready(this.kind);
    const all = async () => {
      for (const obj of await cache.list(this.kind)) this.enqueue(obj.metadata.name);
    };
    await all();
    this.resyncTimer = setInterval(() => void all(), resyncMs);
  }

  /** How many objects of this kind the cache holds (for logs and metrics). */
  cached(): number {
    return this.shared.cache.size(this.kind);
  }

  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    this.unsubscribe?.();
    this.queue.stop();
  }

  enqueue(name: string, delayMs = 0): void {
    this.queue.enqueue(name, delayMs);
  }

  /** Waits (in the background, once per name) for the run to end, then reconciles again. */
  protected awaitRun(client: Client, name: string, workflowId: string): void {
    if (this.awaiting.has(name)) return;
    this.awaiting.add(name);
    void client.workflow
      .getHandle(workflowId)
      .result()
      .catch(() => undefined)
      .finally(() => {
        this.awaiting.delete(name);
        this.enqueue(name);
      });
  }
}
