/**
 * A worker process's own shutdown asks its worker to stop only if it still runs. The SDK's
 * Runtime stops every worker by itself on SIGINT and SIGTERM (its `shutdownSignals`), before the
 * process's own handler (common/shutdown.ts) gets there; `Worker.shutdown()` on a worker that is
 * no longer RUNNING throws IllegalStateError. That throw ended the handler at that line: the
 * gateway's pending device events were never written, the host's devices never stopped, and no
 * process closed its store.
 */
import type { Worker } from '@temporalio/worker';

export function shutdownWorker(worker: Worker): void {
  if (worker.getState() === 'RUNNING') worker.shutdown();
}
