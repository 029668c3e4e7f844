/**
 * Paged, filtered lists, the way Kubernetes lists page: `limit` items at a time in a stable
 * order (by name), and an opaque `continue` token for the next page. The token holds the last
 * name returned (keyset paging, not an offset), so an item that exists for the whole walk is
 * returned exactly once even while others are created or deleted; one created during the walk
 * shows up if its name sorts after the page being read. The token also carries a digest of the
 * filters: a token used with other filters is refused instead of silently skipping items.
 *
 * The filters are defined once here (FILTER_FIELDS: which resource field each one reads; the
 * application filter, whose path holds the application's name, in APPS_PATH); the SQLite and
 * PostgreSQL stores turn them into SQL, other backends and in-memory lists use `matches`.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../common/errors.js';
import {
  DNS_LABEL_MESSAGE,
  isDnsLabel,
  LABEL_KEY_MAX_LENGTH,
  LABEL_KEY_MESSAGE,
  LABEL_KEY_PATTERN,
  LABEL_VALUE_MAX_LENGTH,
  LABEL_VALUE_MESSAGE,
  LABEL_VALUE_PATTERN,
} from '../common/names.js';

/** Field filters of a list, by query parameter; each reads the first present of its paths. */
export const FILTER_FIELDS = {
  phase: ['status.phase'],
  runtime: ['spec.runtime'],
  mcuType: ['spec.mcuType'],
  /** The gateway holding the device, or the one it asked for while it has none. */
  gateway: ['status.gateway.name', 'spec.gateway'],
  /** The device host the device is placed on. */
  host: ['status.host'],
} as const;
export type FilterField = keyof typeof FILTER_FIELDS;

/**
 * Where a Device keeps its applications' states, by application name (`status.apps.<app>.state`):
 * what rollouts record and the device reports. The `app` filter reads the entry of its
 * application; the name is part of the path, so it is not a FILTER_FIELDS field.
 */
export const APPS_PATH = ['status', 'apps'] as const;

/**
 * The filters a list request takes by name (the API's query parameters, the devices page's URL):
 * the field filters but `host`, which only placement reads, the label selector and name prefix,
 * and an application with, optionally, its state on the device.
 */
export const LIST_FILTER_PARAMS = [
  'phase',
  'runtime',
  'mcuType',
  'gateway',
  'labelSelector',
  'namePrefix',
  'app',
  'appState',
] as const satisfies readonly (keyof ListQuery)[];
export type ListFilters = Partial<Record<(typeof LIST_FILTER_PARAMS)[number], string>>;

export const MAX_LIST_LIMIT = 1000;

/** One requirement of a label selector (Kubernetes equality-based syntax). */
export interface LabelRequirement {
  key: string;
  op: '=' | '!=' | 'exists' | '!exists';
  value?: string;
}

export interface ListQuery extends Partial<Record<FilterField, string>> {
  /** Page size; absent: everything after the cursor. */
  limit?: number;
  /** The token from the previous page's `metadata.continue`. */
  continue?: string;
  /** `k=v,k2!=v,k3,!k4` */
  labelSelector?: string;
  namePrefix?: string;
  /** Devices with this application in `status.apps` (deployed to them, in any state). */
  app?: string;
  /** With `app`: only the devices where it is in this state (Running, Failed, …). */
  appState?: string;
}

/** The application filter of a resolved query (the name checked: a DNS label). */
export interface AppRequirement {
  name: string;
  state?: string;
}

export interface ListPage<T> {
  items: T[];
  metadata: {
    /** Present when more items follow: pass it as `continue` for the next page. */
    continue?: string;
    /** How many matching items follow this page. */
    remainingItemCount?: number;
  };
}

/** What a backend needs to run a query: the cursor decoded, the selector parsed. */
export interface ResolvedQuery {
  after?: string;
  limit?: number;
  fields: [FilterField, string][];
  labels: LabelRequirement[];
  namePrefix?: string;
  app?: AppRequirement;
  digest: string;
}

const LABEL_KEY = new RegExp(LABEL_KEY_PATTERN);
const LABEL_VALUE = new RegExp(LABEL_VALUE_PATTERN);

/** What a selector may say, for the errors about its form: Kubernetes' equality-based requirements. */
const SELECTOR_FORMS = 'use key=value, key!=value, key or !key, comma-separated (all must hold)';

/** `env in (a,b)`, `tier notin (x)`: Kubernetes' set-based requirements, which lists do not take. */
const SET_BASED = /(?:^|,)\s*([^,=!()\s]+)\s+(in|notin)\s*\(/;

/**
 * What is wrong with one requirement of a selector (`text`, trimmed), or undefined when nothing
 * is. `m` is the requirement's match: negation, key, operator, value. A problem of form says
 * what a requirement may look like; a bad key or value, what a key or value may be.
 */
function requirementProblem(text: string, m: RegExpExecArray | null): string | undefined {
  if (text === '') return `it has an empty requirement (a comma too many?); ${SELECTOR_FORMS}`;
  if (/^(==|=|!=)/.test(text)) return `"${text}" is not a requirement: it has no key; ${SELECTOR_FORMS}`;
  if (!m) return `"${text}" is not a requirement; ${SELECTOR_FORMS}`;
  const key = m[2]!.trim();
  if (!LABEL_KEY.test(key) || key.length > LABEL_KEY_MAX_LENGTH)
    return `"${text}" is not a requirement: "${key}" ${LABEL_KEY_MESSAGE}`;
  if (m[1] && m[3])
    return `"${text}" is not a requirement: "!" goes with a key alone (!${key}), or say ${key}!=…; ${SELECTOR_FORMS}`;
  const value = m[4]?.trim();
  if (value !== undefined && (!LABEL_VALUE.test(value) || value.length > LABEL_VALUE_MAX_LENGTH))
    return `"${value}" in "${text}" ${LABEL_VALUE_MESSAGE}`;
  return undefined;
}

/**
 * Parses `group=lab,site!=a,gpu,!broken`; `==` is `=`. An error quotes the whole selector and
 * says what is wrong in it: quoting only the piece between two commas left `env in (a,b` as a
 * puzzle (`"env in (a" is not a requirement`).
 */
export function parseLabelSelector(
  selector: string | undefined,
  field = 'labelSelector',
): LabelRequirement[] {
  if (selector === undefined || selector.trim() === '') return [];
  const refuse = (problem: string) => new ValidationError(field, `${field} "${selector}": ${problem}`);
  const setBased = SET_BASED.exec(selector);
  if (setBased) {
    const unclosed = selector.lastIndexOf('(') > selector.lastIndexOf(')');
    throw refuse(
      `"${setBased[1]} ${setBased[2]} (…)" is a set-based requirement, which lists do not take` +
        (unclosed ? ' (and its "(" is never closed)' : '') +
        `; ${SELECTOR_FORMS}`,
    );
  }
  return selector.split(',').map((part) => {
    const text = part.trim();
    const m = /^(!?)([^=!]+?)\s*(?:(==|=|!=)\s*(.*))?$/.exec(text);
    const problem = requirementProblem(text, m);
    if (problem) throw refuse(problem);
    const key = m![2]!.trim();
    if (!m![3]) return { key, op: m![1] ? '!exists' : 'exists' };
    return { key, op: m![3] === '!=' ? '!=' : '=', value: m![4]!.trim() };
  });
}

/**
 * The application filter: appState alone is refused rather than ignored (the state of which
 * application?), and the name must be one an application can have — the SQL backends put it
 * in a JSON path, where a quote could end the key early.
 */
function resolveApp(query: ListQuery): AppRequirement | undefined {
  const { app, appState } = query;
  if (!app) {
    if (appState) {
      throw new ValidationError(
        'appState',
        'appState needs app: the state of which application (e.g. app=blinky&appState=Failed)',
      );
    }
    return undefined;
  }
  if (!isDnsLabel(app)) throw new ValidationError('app', `app "${app}" ${DNS_LABEL_MESSAGE}`);
  return appState ? { name: app, state: appState } : { name: app };
}

/** Digest of everything but the paging, so a token is only used with the filters it came from. */
function digestOf(scope: string, query: ListQuery): string {
  const filters = Object.entries({ ...query, limit: undefined, continue: undefined })
    .filter(([, v]) => v !== undefined && v !== '')
    .sort(([a], [b]) => a.localeCompare(b));
  return createHash('sha256')
    .update(JSON.stringify([scope, filters]))
    .digest('base64url')
    .slice(0, 12);
}

export function encodeContinue(after: string, digest: string): string {
  return Buffer.from(JSON.stringify({ v: 1, a: after, q: digest })).toString('base64url');
}

function decodeContinue(token: string, digest: string): string {
  let parsed: { v?: unknown; a?: unknown; q?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as typeof parsed;
  } catch {
    parsed = {};
  }
  if (parsed?.v !== 1 || typeof parsed.a !== 'string' || typeof parsed.q !== 'string') {
    throw new ValidationError('continue', 'continue is not a token this server issued');
  }
  if (parsed.q !== digest) {
    throw new ValidationError(
      'continue',
      'continue belongs to a list with other filters; start again without continue',
    );
  }
  return parsed.a;
}

/** Checks a query and decodes its cursor. `scope` (e.g. the kind) keeps tokens to their list. */
export function resolveQuery(scope: string, query: ListQuery = {}): ResolvedQuery {
  const { limit } = query;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT)) {
    throw new ValidationError('limit', `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  const digest = digestOf(scope, query);
  const fields = (Object.keys(FILTER_FIELDS) as FilterField[])
    .filter((f) => query[f] !== undefined && query[f] !== '')
    .map((f): [FilterField, string] => [f, query[f]!]);
  return {
    after: query.continue ? decodeContinue(query.continue, digest) : undefined,
    limit,
    fields,
    labels: parseLabelSelector(query.labelSelector),
    namePrefix: query.namePrefix || undefined,
    app: resolveApp(query),
    digest,
  };
}

function read(resource: unknown, path: string): unknown {
  let value: unknown = resource;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The value a filter field compares against: the first of its paths that is present. */
export function fieldValue(resource: unknown, field: FilterField): unknown {
  for (const path of FILTER_FIELDS[field]) {
    const value = read(resource, path);
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

export function labelsMatch(
  labels: Record<string, string> | undefined,
  requirements: LabelRequirement[],
): boolean {
  return requirements.every(({ key, op, value }) => {
    const has = labels !== undefined && Object.hasOwn(labels, key);
    switch (op) {
      case '=':
        return has && labels[key] === value;
      case '!=':
        return !has || labels[key] !== value;
      case 'exists':
        return has;
      case '!exists':
        return !has;
    }
  });
}

/** Whether a resource has the application's entry in APPS_PATH (in the required state, if any). */
function appMatches(resource: unknown, app: AppRequirement): boolean {
  const apps = read(resource, APPS_PATH.join('.'));
  if (typeof apps !== 'object' || apps === null || !Object.hasOwn(apps, app.name)) return false;
  return app.state === undefined || read((apps as Record<string, unknown>)[app.name], 'state') === app.state;
}

/** Whether a resource passes the query's filters (not its paging). */
export function matches(
  resource: { metadata: { name: string; labels?: Record<string, string> } },
  query: ResolvedQuery,
): boolean {
  if (query.namePrefix && !resource.metadata.name.startsWith(query.namePrefix)) return false;
  if (!query.fields.every(([f, v]) => fieldValue(resource, f) === v)) return false;
  if (query.app && !appMatches(resource, query.app)) return false;
  return labelsMatch(resource.metadata.labels, query.labels);
}

/**
 * One page of an in-memory list (any backend without its own paging, and lists that are not
 * resources): filters, sorts by key, cuts after the cursor.
 */
export function pageOf<T>(
  scope: string,
  all: T[],
  query: ListQuery = {},
  keyOf: (item: T) => string = (item) => (item as { metadata: { name: string } }).metadata.name,
  filter: (item: T, resolved: ResolvedQuery) => boolean = (item, resolved) =>
    matches(item as Parameters<typeof matches>[0], resolved),
): ListPage<T> {
  const resolved = resolveQuery(scope, query);
  const sorted = all
    .filter((item) => filter(item, resolved))
    .sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  const start = resolved.after === undefined ? 0 : sorted.findIndex((item) => keyOf(item) > resolved.after!);
  const rest = start < 0 ? [] : sorted.slice(start);
  return cut(rest, resolved, keyOf, rest.length);
}

/** Cuts `rest` (everything matching after the cursor) to the page and builds its metadata. */
export function cut<T>(
  rest: T[],
  resolved: ResolvedQuery,
  keyOf: (item: T) => string,
  total: number,
): ListPage<T> {
  if (resolved.limit === undefined || total <= resolved.limit) return { items: rest, metadata: {} };
  const items = rest.slice(0, resolved.limit);
  return {
    items,
    metadata: {
      continue: encodeContinue(keyOf(items[items.length - 1]!), resolved.digest),
      remainingItemCount: total - items.length,
    },
  };
}
