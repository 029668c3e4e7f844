/** Splits a rollout's targets into waves by strategy. Workflow-safe, pure. */
import type { ApplicationSpec } from '../common/resources.js';
import { resolveCount } from '../common/rollout-count.js';

export function rolloutWaves<T>(targets: T[], strategy: ApplicationSpec['strategy']): T[][] {
  const chunk = (items: T[], size: number) => {
    const out: T[][] = [];
    for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
    return out;
  };
  // (Percentages are of all the rollout's targets, the canary's included.)
  const waveSize = resolveCount(strategy.maxUnavailable, targets.length, 'down');
  switch (strategy.type) {
    case 'AllAtOnce':
      return [targets];
    case 'Rolling':
      return chunk(targets, waveSize);
    case 'Canary': {
      const canary = targets.slice(0, resolveCount(strategy.canary, targets.length, 'up'));
      const rest = targets.slice(canary.length);
      return rest.length > 0 ? [canary, ...chunk(rest, waveSize)] : [canary];
    }
  }
}

/** Devices per gateway activity in a rollout's batch (workflows/deploy-application.ts). */
export const ROLLOUT_BATCH_SIZE = 100;

/**
 * Splits a wave into batches of at most `size` targets that share a gateway task queue, in the
 * wave's order. Workflow-safe, pure.
 */
export function rolloutBatches<T extends { taskQueue: string | null }>(
  wave: T[],
  size = ROLLOUT_BATCH_SIZE,
): T[][] {
  const byQueue = new Map<string | null, T[][]>();
  const out: T[][] = [];
  for (const target of wave) {
    const batches = byQueue.get(target.taskQueue) ?? [];
    byQueue.set(target.taskQueue, batches);
    let last = batches.at(-1);
    if (!last || last.length >= size) {
      last = [];
      batches.push(last);
      out.push(last);
    }
    last.push(target);
  }
  return out;
}
