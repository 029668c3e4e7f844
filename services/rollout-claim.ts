/**
 * Who starts the rollout of one Application generation. Several writers can see a new
 * generation at once (the REST API that wrote it and, on Kubernetes, every controller watching
 * it), and the check that a run already serves it reads the workflow's memo, which is not atomic
 * with starting one. The claim is: `status.rolloutClaim` moved to the generation by the store's
 * compare-and-swap `updateStatus`; only the writer whose claim landed starts the workflow. A
 * claim older than its lease whose run never appeared belongs to a claimer that died before
 * starting: another writer may take it over.
 */
import type { RolloutClaim } from '../common/resources.js';

/** How long a claim keeps others from starting the generation's run before it can be taken over. */
export const ROLLOUT_CLAIM_LEASE_MS = 10_000;

/** Whether a writer may claim `generation` now: unclaimed, claimed for an older one, or its lease ran out. */
export function claimable(
  claim: RolloutClaim | undefined,
  generation: number,
  now: number,
  leaseMs = ROLLOUT_CLAIM_LEASE_MS,
): boolean {
  if (!claim || claim.generation < generation) return true;
  if (claim.generation > generation) return false;
  const at = Date.parse(claim.at);
  return Number.isNaN(at) || now - at >= leaseMs;
}

/** The claim `holder` writes for `generation`. */
export function newClaim(generation: number, holder: string, now: number): RolloutClaim {
  return { generation, holder, at: new Date(now).toISOString() };
}
