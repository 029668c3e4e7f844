/**
 * An application's rollout strategy in words, with its wave sizes (a count of devices or a
 * percentage of the targets, as given): the dashboard's applications table and `wasmbed app get`
 * say it the same way. A Canary names both sizes: its first wave, and the waves after it.
 */
import type { ApplicationSpec } from './resources.js';

export function strategyText(s: ApplicationSpec['strategy']): string {
  const threshold = `tolerates ${s.failureThreshold} failed`;
  switch (s.type) {
    case 'Rolling':
      return `Rolling, ${s.maxUnavailable} at a time, ${threshold}`;
    case 'Canary':
      return `Canary of ${s.canary}${s.pauseAfterCanary ? ', then waits for approval' : ''}, then ${s.maxUnavailable} at a time, ${threshold}`;
    case 'AllAtOnce':
      return `AllAtOnce, ${threshold}`;
  }
}
