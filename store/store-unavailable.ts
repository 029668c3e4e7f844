/**
 * Whether a store call failed because the store could not be reached (PostgreSQL down or cut off,
 * the Kubernetes API server down, overloaded or unreachable) — the same call can succeed later —
 * rather than because of what was asked (a resource not found, a validation error), which no
 * retry changes. Writers that keep work for later (gateway/status-writes.ts) keep only the first.
 */
import { KubernetesApiError } from './kubernetes-objects.js';
import { isConnectionError } from './postgres/pool.js';

/** HTTP statuses of an API server that cannot serve now: none (no answer), 429 and 5xx. */
const unavailableStatus = (status: number) => status === 0 || status === 429 || status >= 500;

export function isStoreUnavailable(err: unknown): boolean {
  // The socket error may be wrapped (a fetch error's cause): look a few causes deep.
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (isConnectionError(e)) return true;
    if (e instanceof KubernetesApiError && unavailableStatus(e.status)) return true;
  }
  return false;
}
