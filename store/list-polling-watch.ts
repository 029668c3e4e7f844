/**
 * A change feed for a backend that has none of its own yet (the Kubernetes store's worker
 * bridge): lists the watched kinds every `intervalMs` and reports what appeared, changed
 * (another resourceVersion) or went away since the last list. Changes between two lists
 * collapse into one event per resource; order is by name within a list, not by write.
 */
import type { ResourceKind } from '../common/resources.js';
import { inScope, type StoreEvent, type WatchScope } from './resource-store.js';

type Listed = { metadata: { name: string; resourceVersion?: string } };

interface Watcher {
  scope: WatchScope;
  listener: (event: StoreEvent) => void;
}

const KINDS: ResourceKind[] = ['Device', 'Gateway', 'Application'];

export class ListPollingWatch {
  private readonly watchers = new Set<Watcher>();
  /** Per kind: name → resourceVersion at the last list. */
  private readonly seen = new Map<ResourceKind, Map<string, string>>();
  private timer?: NodeJS.Timeout;
  private polling = false;

  constructor(
    private readonly list: (kind: ResourceKind) => Promise<Listed[]>,
    private readonly intervalMs = 1000,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  watch(scope: WatchScope, listener: (event: StoreEvent) => void): () => void {
    const watcher = { scope: { ...scope }, listener };
    this.watchers.add(watcher);
    if (!this.timer) {
      this.timer = setInterval(() => void this.poll(), this.intervalMs);
      this.timer.unref();
      void this.poll(); // the baseline, so that only later changes are reported
    }
    return () => {
      this.watchers.delete(watcher);
      if (this.watchers.size === 0) this.stop();
    };
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const kinds = KINDS.filter((k) => [...this.watchers].some((w) => !w.scope.kind || w.scope.kind === k));
      for (const kind of kinds) {
        const now = new Map(
          (await this.list(kind)).map((r) => [r.metadata.name, r.metadata.resourceVersion ?? '']),
        );
        const before = this.seen.get(kind);
        this.seen.set(kind, now);
        if (!before) continue;
        for (const [name, rv] of now) {
          const was = before.get(name);
          if (was !== rv) this.emit({ type: was === undefined ? 'ADDED' : 'MODIFIED', kind, name });
        }
        for (const name of before.keys()) if (!now.has(name)) this.emit({ type: 'DELETED', kind, name });
      }
    } catch (err) {
      this.onError(err);
    } finally {
      this.polling = false;
    }
  }

  private emit(event: StoreEvent): void {
    for (const w of this.watchers) if (inScope(w.scope, event)) w.listener(event);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.seen.clear();
  }
}
