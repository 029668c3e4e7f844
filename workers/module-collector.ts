/**
 * Removes the modules no Application refers to any more. Every deploy and update stores its
 * module (store/module-store.ts) and nothing else removes one: a fleet updated from CI a few times
 * a day piles up megabytes a day, on disk or as rows in PostgreSQL, for ever.
 *
 * A module is kept while any Application names it — as its spec, the version on its devices
 * (currentModule), the one a failing update rolls back to (previousModule), or what a
 * Kubernetes source resolved to — and for `retentionMs` after it was last stored, whoever
 * refers to it. That window covers a module uploaded (POST /modules) for an Application not
 * created yet, and the moment between an Application's module being stored and the Application
 * being written: each stores the module again, which starts its window anew.
 *
 * One loop in the orchestrator worker, like the liveness watchdog; with several workers, each
 * collects, and two removing the same module is harmless.
 */
import type { Application } from '../common/resources.js';
import type { Logger } from '../common/logger.js';
import { errorMessage } from '../common/errors.js';
import type { ModuleStore, StoredModule } from '../store/module-store.js';
import type { ResourceStore } from '../store/resource-store.js';

/** The modules an Application needs: removing any of them would break a deploy, a device's restore or a rollback. */
export function modulesInUse(applications: Application[]): Set<string> {
  const used = new Set<string>();
  for (const app of applications) {
    const { status } = app;
    for (const ref of [
      app.spec.module,
      status?.currentModule,
      status?.previousModule,
      status?.resolvedModule,
    ]) {
      if (ref?.sha256) used.add(ref.sha256);
    }
  }
  return used;
}

/** The stored modules that are neither in use nor stored within the last `retentionMs`. */
export function unusedModules(
  stored: StoredModule[],
  inUse: Set<string>,
  now: number,
  retentionMs: number,
): StoredModule[] {
  return stored.filter((m) => !inUse.has(m.sha256) && now - m.storedAt.getTime() > retentionMs);
}

export interface ModuleCollectorOptions {
  store: ResourceStore;
  modules: ModuleStore;
  logger: Logger;
  retentionMs: number;
  /** How often to collect (default: the retention, an hour at most). */
  everyMs?: number;
}

export class ModuleCollector {
  private timer?: NodeJS.Timeout;
  private collecting = Promise.resolve();

  constructor(private readonly options: ModuleCollectorOptions) {}

  start(): void {
    const every = this.options.everyMs ?? Math.min(this.options.retentionMs, 3_600_000);
    this.timer = setInterval(() => {
      this.collecting = this.collecting.then(() => this.collectLogged());
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.collecting;
  }

  /** One pass; the modules it removed. */
  async collect(): Promise<StoredModule[]> {
    const { store, modules, retentionMs } = this.options;
    // The modules first, then the Applications: a module stored after the listing is not looked
    // at; one an Application took up before the Applications were read is in them; and one
    // taken up after that was stored again, which `remove` sees.
    const stored = await modules.list();
    const unused = unusedModules(
      stored,
      modulesInUse(await store.list('Application')),
      Date.now(),
      retentionMs,
    );
    const removed: StoredModule[] = [];
    for (const module of unused) if (await modules.remove(module)) removed.push(module);
    return removed;
  }

  private async collectLogged(): Promise<void> {
    try {
      const removed = await this.collect();
      if (removed.length > 0) {
        this.options.logger.info('removed modules no Application uses', {
          modules: removed.map((m) => m.sha256),
          bytes: removed.reduce((sum, m) => sum + m.size, 0),
        });
      }
    } catch (err) {
      this.options.logger.warn('could not collect unused modules', { error: errorMessage(err) });
    }
  }
}
