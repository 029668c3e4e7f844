/**
 * A list's query string ↔ ListQuery (store/list-query.ts): the API's list routes, the devices
 * page and its live stream read the same parameters, so a page's URL is also an API query.
 */
import { LIST_FILTER_PARAMS, type ListQuery } from '../store/list-query.js';

const TEXT_PARAMS = ['continue', ...LIST_FILTER_PARAMS] as const;

/** Reads paging and filters from a parsed query string (checked against the OpenAPI document on the API). */
export function listQuery(query: Record<string, unknown>): ListQuery {
  const pick = (k: string) => (typeof query[k] === 'string' && query[k] ? (query[k] as string) : undefined);
  const result: ListQuery = {};
  for (const name of TEXT_PARAMS) {
    const value = pick(name);
    if (value !== undefined) result[name] = value;
  }
  const limit = pick('limit');
  if (limit !== undefined) result.limit = Number(limit);
  return result;
}

/** `?phase=Failed&limit=50…` for a query (empty string when there is nothing to say). */
export function listQueryString(query: ListQuery): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
