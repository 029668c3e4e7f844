/**
 * How the dashboard and the CLI name an application's state on a device: its state, and for a
 * device the rollout has not reached yet (common/awaiting-rollout.ts) that this is the version
 * it ran before and what it waits for.
 */
import type { AppDeviceState } from './resources.js';

export function appDeviceStateLabel(
  entry: Pick<AppDeviceState, 'state' | 'awaitingRollout'>,
  awaitingPromotion: boolean | undefined,
): string {
  if (!entry.awaitingRollout) return entry.state;
  const has = entry.state === 'Pending' ? 'Pending' : `${entry.state} (previous version)`;
  return `${has} · ${awaitingRolloutLabel(awaitingPromotion)}`;
}

/** What a device the rollout has not reached waits for: the operator's promote, or its wave. */
export function awaitingRolloutLabel(awaitingPromotion: boolean | undefined): string {
  return awaitingPromotion ? 'waiting for promotion' : 'waiting for its wave';
}
