/** Splits a rollout's targets into waves by strategy. Workflow-safe, pure. */
import type { ApplicationSpec } from '../common/resources.js';

export function rolloutWaves<T>(targets: T[], strategy: ApplicationSpec['strategy']): T[][] {
  const chunk = (items: T[], size: number) => {
    const out: T[][] = [];
    for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
    return out;
  };
  switch (strategy.type) {
    case 'AllAtOnce':
      return [targets];
    case 'Rolling':
      return chunk(targets, Math.max(1, strategy.maxUnavailable));
    case 'Canary': {
      const canary = targets.slice(0, Math.max(1, strategy.canary));
      const rest = targets.slice(canary.length);
      return rest.length > 0 ? [canary, ...chunk(rest, Math.max(1, strategy.maxUnavailable))] : [canary];
    }
  }
}
