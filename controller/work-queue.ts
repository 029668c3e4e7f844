/**
 * A per-name work queue: one reconcile per name at a time; a change that arrives during a
 * reconcile runs it once more afterwards; a failed reconcile is retried (quickly after a 409
 * Conflict, which only means the object moved on, after 2 s otherwise); at most one delayed
 * look per name is pending.
 */
import { ApiException } from '@kubernetes/client-node';
import type { Logger } from '../common/logger.js';
import { KubernetesApiError } from '../store/kubernetes-objects.js';
import { describeError } from './custom-objects.js';

export class WorkQueue {
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly what: string,
    private readonly reconcile: (name: string) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /**
   * Reconciles `name` now, or after `delayMs`. One delayed look per name at a time: a reconcile
   * that asks to look again while a look is already scheduled keeps that one, so retries and
   * resyncs never pile up timers.
   */
  enqueue(name: string, delayMs = 0): void {
    if (this.stopped) return;
    if (delayMs > 0) {
      if (this.timers.has(name)) return;
      const timer = setTimeout(() => {
        this.timers.delete(name);
        this.enqueue(name);
      }, delayMs);
      timer.unref();
      this.timers.set(name, timer);
      return;
    }
    if (this.running.has(name)) {
      this.dirty.add(name);
      return;
    }
    this.running.add(name);
    void this.reconcile(name)
      .catch((err: unknown) => {
        const conflict =
          (err instanceof ApiException && err.code === 409) ||
          (err instanceof KubernetesApiError && err.status === 409);
        if (!conflict) {
          this.logger.warn('reconcile failed; retrying', { [this.what]: name, error: describeError(err) });
        }
        this.dirty.add(name);
        return new Promise((r) => setTimeout(r, conflict ? 50 : 2000));
      })
      .finally(() => {
        this.running.delete(name);
        if (this.dirty.delete(name)) this.enqueue(name);
      });
  }
}
