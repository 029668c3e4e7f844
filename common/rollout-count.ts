/**
 * A rollout's wave sizes (`strategy.maxUnavailable`, `strategy.canary`) as Kubernetes says a
 * Deployment's `maxUnavailable`: a number of devices, or a percentage of the rollout's targets
 * ("25%"). A fixed number does not scale with a fleet: the default of one device at a time took a
 * 300-device Rolling update through 300 waves, each with its health check. Workflow-safe, pure.
 */

/** A count of devices, or a whole percentage of the rollout's targets ("0%"–"100%"). */
export type CountOrPercent = number | `${number}%`;

const PERCENT_BODY = '(100|[1-9]?[0-9])%';
/** The one spelling of a percentage, for validation and schemas. */
export const PERCENT_PATTERN = `^${PERCENT_BODY}$`;
const PERCENT = new RegExp(PERCENT_PATTERN);
/** A count or a percentage, unanchored: an HTML input's pattern matches the whole value. */
export const COUNT_OR_PERCENT_HTML_PATTERN = `[0-9]+|${PERCENT_BODY}`;

/** A new Rolling or Canary rollout updates a quarter of its devices at a time (Kubernetes' default). */
export const DEFAULT_MAX_UNAVAILABLE: CountOrPercent = '25%';

export function isCountOrPercent(value: unknown): value is CountOrPercent {
  return (
    (typeof value === 'number' && Number.isInteger(value) && value >= 0) ||
    (typeof value === 'string' && PERCENT.test(value))
  );
}

/**
 * How many of `total` devices `value` is: a percentage rounds down for maxUnavailable (as
 * Kubernetes does) and up for a canary (a "10%" canary of 5 devices is one device, not none);
 * never less than one device.
 */
export function resolveCount(value: CountOrPercent, total: number, round: 'down' | 'up'): number {
  if (typeof value === 'number') return Math.max(1, value);
  const exact = (Number(value.slice(0, -1)) * total) / 100;
  return Math.max(1, round === 'down' ? Math.floor(exact) : Math.ceil(exact));
}
