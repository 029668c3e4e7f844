/** The devices page's bulk add: jobs that create many devices, four at a time, with their progress. */
import crypto from 'node:crypto';
import type { DeviceService } from '../services/device-service.js';
import type { BulkJob } from './pages/devices.js';
import { errorMessage } from '../common/errors.js';

export class BulkJobs {
  private readonly jobs: BulkJob[] = [];

  constructor(private readonly devices: DeviceService) {}

  /** Running jobs and those finished in the last ten minutes. */
  active(): BulkJob[] {
    const cutoff = Date.now() - 10 * 60_000;
    for (let i = this.jobs.length - 1; i >= 0; i--) {
      if ((this.jobs[i]!.finishedAt ?? Infinity) < cutoff) this.jobs.splice(i, 1);
    }
    return this.jobs;
  }

  /** Starts creating `names` in the background; the job's progress is shown until it expires. */
  start(
    prefix: string,
    names: string[],
    spec: { mcuType?: string; labels?: Record<string, string> },
  ): BulkJob {
    const job: BulkJob = {
      id: crypto.randomUUID(),
      prefix,
      names,
      created: 0,
      errors: [],
      startedAt: Date.now(),
    };
    this.jobs.push(job);
    void this.run(job, spec);
    return job;
  }

  private async run(
    job: BulkJob,
    spec: { mcuType?: string; labels?: Record<string, string> },
  ): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < job.names.length) {
        const name = job.names[next++]!;
        try {
          await this.devices.create({ name, ...spec });
        } catch (err) {
          job.errors.push(`${name}: ${errorMessage(err)}`);
        }
        job.created++;
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    job.finishedAt = Date.now();
  }
}
