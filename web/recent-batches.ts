/**
 * The batches started from this dashboard (the bulk form) in the last ten minutes, for their
 * progress bars. Progress itself is not kept here: it is the batch's devices counted by phase
 * in the store (services/device-batch-service.ts), so it is right after a restart too.
 */
import { NotFoundError } from '../common/errors.js';
import type { DeviceBatchProgress, DeviceBatchService } from '../services/device-batch-service.js';

const SHOWN_FOR_MS = 10 * 60_000;

export interface RecentBatch extends DeviceBatchProgress {
  title: string;
  /** Why (some of) its devices could not start; those were removed again. */
  error?: string;
}

export class RecentBatches {
  private readonly started = new Map<string, { at: number; title: string; error?: string }>();

  constructor(private readonly batches: DeviceBatchService) {}

  /** `title` says what the batch is (e.g. "sim-1…10"). */
  add(name: string, title: string): void {
    this.started.set(name, { at: Date.now(), title });
  }

  /** A batch whose workflows could not start in the background (its devices were removed again). */
  failed(name: string, error: string): void {
    const entry = this.started.get(name);
    if (entry) entry.error = error;
  }

  /** Progress of each recent batch, newest first; batches whose devices are all gone drop out. */
  async progress(): Promise<RecentBatch[]> {
    const shown: RecentBatch[] = [];
    for (const [name, entry] of [...this.started].reverse()) {
      if (Date.now() - entry.at > SHOWN_FOR_MS) {
        this.started.delete(name);
        continue;
      }
      try {
        shown.push({ ...(await this.batches.progress(name)), title: entry.title, error: entry.error });
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        if (entry.error)
          shown.push({ name, title: entry.title, total: 0, counts: {}, settled: true, error: entry.error });
      }
    }
    return shown;
  }
}
