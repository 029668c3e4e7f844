/**
 * What the Device, Application and Gateway controllers share: an informer on one custom
 * resource feeding a per-name work queue, and a background wait on a workflow run that
 * reconciles the resource again when the run ends.
 */
import type { Client } from '@temporalio/client';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../common/logger.js';
import { GROUP, VERSION } from './custom-objects.js';
import { Informer } from './informer.js';
import { WorkQueue } from './work-queue.js';

export interface ResourceControllerOptions {
  kc: KubeConfig;
  namespace: string;
  resyncMs: number;
  logger: Logger;
}

export abstract class ResourceController {
  readonly informer: Informer;
  protected readonly queue: WorkQueue;
  private readonly awaiting = new Set<string>();

  constructor(
    /** Singular, for logs: `device`. */
    what: string,
    plural: string,
    options: ResourceControllerOptions,
  ) {
    this.queue = new WorkQueue(what, (name) => this.reconcile(name), options.logger);
    this.informer = new Informer({
      kc: options.kc,
      group: GROUP,
      version: VERSION,
      plural,
      namespace: options.namespace,
      resyncMs: options.resyncMs,
      logger: options.logger,
      onChange: (name, obj) => {
        if (obj) this.enqueue(name);
      },
    });
  }

  abstract reconcile(name: string): Promise<void>;

  start(): void {
    this.informer.start();
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await this.informer.stop();
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
