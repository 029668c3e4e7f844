/**
 * What every command runs with (the API client, the output format, its options) and the option
 * readers the commands share.
 */
import { CliError, listAll, type ApiClient } from './lib.js';
import { USAGE } from './usage.js';
import { isCountOrPercent, type CountOrPercent } from '../common/rollout-count.js';
import type { Values } from './command-line.js';

/** What main() hands every command: built once from the global options. */
export interface CommandContext {
  api: ApiClient;
  json: boolean;
  values: Values;
  /** Positional arguments after COMMAND SUB ARG (e.g. `app update NAME FILE`'s FILE). */
  more: string[];
  timeoutMs: number;
  out: (text: string) => void;
}

/** A non-negative integer option, or undefined when not given (bad usage otherwise). */
export function intOption(values: Values, name: keyof Values): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new CliError(`--${String(name)} must be a non-negative integer`, 2);
  return n;
}

/**
 * A count of devices, or a percentage of the rollout's targets ("25%"). Either spelling that is
 * wrong gets the message naming both: "--canary 2.5" said "must be a non-negative integer".
 */
export function countOrPercentOption(values: Values, name: keyof Values): CountOrPercent | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = typeof raw === 'string' && /^[0-9]+$/.test(raw) ? Number(raw) : raw;
  if (!isCountOrPercent(value))
    throw new CliError(`--${String(name)} must be a count or a percentage from 0% to 100%, got ${raw}`, 2);
  return value;
}

/** A positional argument the command cannot do without (bad usage when missing). */
export const need = (value: string | undefined, what: string): string => {
  if (!value) throw new CliError(`missing ${what}\n\n${USAGE}`, 2);
  return value;
};

/** Every item of a list, page by page (`--limit` is the page size). */
export function listEvery(
  ctx: CommandContext,
  path: string,
  params: Record<string, string | undefined> = {},
) {
  const pageSize = intOption(ctx.values, 'limit') ?? 500;
  if (pageSize < 1) throw new CliError('--limit must be at least 1', 2);
  return listAll(ctx.api, path, params, pageSize);
}
