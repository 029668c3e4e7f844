/**
 * Resources in PostgreSQL (WASMBED_DATABASE_URL): the same rows as the SQLite store (the
 * resource as JSON, here jsonb), shared by processes on any number of machines.
 *
 * - Every write takes the next value of the sequence `resource_revision` as the row's
 *   resourceVersion; revision() reads the sequence's last value (one cheap read, no table scan).
 *   A sequence value is taken before its transaction commits, so a poller can see a revision
 *   whose write it cannot read yet; the watch feed below has no such gap, and pollers re-read
 *   when idle anyway (web/live.ts).
 * - A status update locks the row (SELECT … FOR UPDATE), so concurrent updates from several
 *   processes queue up instead of overwriting each other; `mutate` runs once per call.
 * - Every write NOTIFYs `wasmbed_resources` in its transaction; watch() LISTENs on one
 *   connection per store (change-feed.ts). After a lost connection the feed catches up from
 *   the rows (resource_version, created_revision) and the deletion log (resource_deletions):
 *   ADDED, MODIFIED and DELETED as they happened, not a blanket "everything changed".
 */
import { AlreadyExistsError, NotFoundError } from '../../common/errors.js';
import { DEFAULT_NAMESPACE, type KindMap, type ResourceKind } from '../../common/resources.js';
import {
  APPS_PATH,
  FILTER_FIELDS,
  cut,
  resolveQuery,
  type FilterField,
  type ListPage,
  type ListQuery,
  type ResolvedQuery,
} from '../list-query.js';
import type {
  NewResource,
  ResourceEvent,
  SpecOf,
  StatusOf,
  WatchableResourceStore,
  WatchScope,
} from '../resource-store.js';
import { newResource } from '../new-resource.js';
import { ChangeFeed, type FeedEvent } from './change-feed.js';
import { query, transaction, type PgClient } from './pool.js';
import type { PostgresDatabase } from './database.js';

type ResourceEventType = ResourceEvent['type'];

interface Row {
  body: KindMap[ResourceKind];
  resource_version: string;
}

interface RevisionedEvent extends ResourceEvent, FeedEvent {}

const CHANNEL = 'wasmbed_resources';
/** How far before the last revision seen a catch-up starts (see changesSince). */
const RESYNC_OVERLAP = 1000;
/** How long deletions are kept for watchers that were disconnected. */
const DELETION_LOG_RETENTION = '1 day';

/** A JSON path of FILTER_FIELDS ('status.gateway.name') as a text[] literal for `#>>`. */
const pathArray = (p: string) => `{${p.split('.').join(',')}}`;

export class PostgresResourceStore implements WatchableResourceStore {
  private readonly feed: ChangeFeed<RevisionedEvent>;

  private constructor(private readonly db: PostgresDatabase) {
    this.feed = new ChangeFeed<RevisionedEvent>({
      url: db.url,
      channel: CHANNEL,
      parse: parseEvent,
      resync: (since) => this.changesSince(since),
      currentRevision: () => this.revision(),
      onError: (message) => db.logger?.warn(message),
    });
  }

  /** The store with its change feed listening (so a watch() made after this misses nothing). */
  static async open(db: PostgresDatabase): Promise<PostgresResourceStore> {
    const store = new PostgresResourceStore(db);
    await store.feed.start();
    return store;
  }

  private parse<T>(row: Row): T {
    const resource = row.body as unknown as { metadata: { resourceVersion?: string } };
    resource.metadata.resourceVersion = String(Number(row.resource_version));
    return resource as T;
  }

  /**
   * Inserts or overwrites a row with the next revision, and notifies, inside `client`'s
   * transaction. `insertOnly`: nothing is written if the name exists (returns undefined).
   */
  private async write(
    client: PgClient,
    resource: KindMap[ResourceKind],
    type: ResourceEventType,
    insertOnly = false,
  ): Promise<boolean> {
    const { resourceVersion: _ignored, ...metadata } = resource.metadata;
    const body = JSON.stringify({ ...resource, metadata });
    const conflict = insertOnly
      ? 'DO NOTHING'
      : 'DO UPDATE SET resource_version = excluded.resource_version, body = excluded.body';
    // One statement: the row and its notification (sent at commit), one round trip.
    const { rows } = await client.query<{ rv: string }>(
      `WITH rv AS (SELECT nextval('resource_revision') AS v),
       written AS (
         INSERT INTO resources (kind, namespace, name, resource_version, created_revision, body)
         SELECT $1, $2, $3, rv.v, rv.v, $4::jsonb FROM rv
         ON CONFLICT (kind, namespace, name) ${conflict}
         RETURNING resource_version)
       SELECT resource_version AS rv,
              pg_notify('${CHANNEL}', json_build_object('t', $5::text, 'k', $1::text, 'n', $3::text, 'r', resource_version)::text)
         FROM written`,
      [resource.kind, metadata.namespace, metadata.name, body, type],
    );
    if (rows.length === 0) return false;
    resource.metadata.resourceVersion = String(Number(rows[0]!.rv));
    return true;
  }

  /** The WHERE clause of a list query: FILTER_FIELDS, the app and label requirements as jsonb reads. */
  private where(
    kind: ResourceKind,
    q: ResolvedQuery,
    withCursor: boolean,
    firstParam = 1,
  ): { sql: string; args: unknown[] } {
    const args: unknown[] = [];
    const param = (value: unknown) => {
      args.push(value);
      return `$${firstParam + args.length - 1}`;
    };
    const clauses = [`kind = ${param(kind)}`, `namespace = ${param(DEFAULT_NAMESPACE)}`];
    if (withCursor && q.after !== undefined) clauses.push(`name > ${param(q.after)}`);
    if (q.namePrefix) clauses.push(`starts_with(name, ${param(q.namePrefix)})`);
    for (const [field, value] of q.fields) {
      clauses.push(`${fieldExpression(field, param)} = ${param(value)}`);
    }
    if (q.app) {
      const apps = `(body #> ${param(pathArray(APPS_PATH.join('.')))}::text[])`;
      if (q.app.state === undefined)
        clauses.push(`coalesce(jsonb_exists(${apps}, ${param(q.app.name)}), false)`);
      else clauses.push(`${apps} -> ${param(q.app.name)} ->> 'state' = ${param(q.app.state)}`);
    }
    for (const { key, op, value } of q.labels) {
      const labels = `(body -> 'metadata' -> 'labels')`;
      if (op === '=') clauses.push(`${labels} ->> ${param(key)} = ${param(value)}`);
      else if (op === '!=') clauses.push(`coalesce(${labels} ->> ${param(key)} <> ${param(value)}, true)`);
      else
        clauses.push(
          `${op === 'exists' ? '' : 'NOT '}coalesce(jsonb_exists(${labels}, ${param(key)}), false)`,
        );
    }
    return { sql: clauses.join(' AND '), args };
  }

  async listPage<K extends ResourceKind>(kind: K, listQuery: ListQuery = {}): Promise<ListPage<KindMap[K]>> {
    const q = resolveQuery(kind, listQuery);
    const { sql, args } = this.where(kind, q, true);
    const limit = q.limit === undefined ? '' : ` LIMIT ${q.limit + 1}`;
    const { rows } = await query<Row>(
      this.db.pool,
      `list ${kind}`,
      `SELECT body, resource_version FROM resources WHERE ${sql} ORDER BY name${limit}`,
      args,
    );
    const items = rows.map((row) => this.parse<KindMap[K]>(row));
    const total =
      q.limit !== undefined && items.length > q.limit
        ? Number(
            (
              await query<{ n: string }>(
                this.db.pool,
                `count ${kind}`,
                `SELECT count(*) AS n FROM resources WHERE ${sql}`,
                args,
              )
            ).rows[0]!.n,
          )
        : items.length;
    return cut(items, q, (item) => item.metadata.name, total);
  }

  async countBy(
    kind: ResourceKind,
    field: FilterField,
    listQuery: ListQuery = {},
  ): Promise<Record<string, number>> {
    const { sql, args } = this.where(kind, resolveQuery(kind, { ...listQuery, continue: undefined }), false);
    const extra: unknown[] = [];
    const value = fieldExpression(field, (v) => {
      extra.push(v);
      return `$${args.length + extra.length}`;
    });
    const { rows } = await query<{ value: string | null; n: string }>(
      this.db.pool,
      `count ${kind} by ${field}`,
      `SELECT ${value} AS value, count(*) AS n FROM resources WHERE ${sql} GROUP BY 1`,
      [...args, ...extra],
    );
    return Object.fromEntries(rows.map((r) => [r.value ?? '', Number(r.n)]));
  }

  async createMany<K extends ResourceKind>(kind: K, items: NewResource<K>[]): Promise<KindMap[K][]> {
    const seen = new Set<string>();
    for (const item of items) {
      if (seen.has(item.name)) throw new AlreadyExistsError(kind, item.name);
      seen.add(item.name);
    }
    return transaction(this.db.pool, `create ${items.length} ${kind}`, async (client) => {
      const { rows } = await client.query<{ name: string }>(
        'SELECT name FROM resources WHERE kind = $1 AND namespace = $2 AND name = ANY($3::text[])',
        [kind, DEFAULT_NAMESPACE, items.map((i) => i.name)],
      );
      const taken = new Set(rows.map((r) => r.name));
      const first = items.find((i) => taken.has(i.name));
      if (first) throw new AlreadyExistsError(kind, first.name);
      const created: KindMap[K][] = [];
      for (const item of items) {
        const resource = newResource(kind, item.name, item.spec, item.status, item.labels ?? {});
        // Someone else may have taken a name since the check: the whole batch rolls back.
        if (!(await this.write(client, resource, 'ADDED', true)))
          throw new AlreadyExistsError(kind, item.name);
        created.push(resource);
      }
      return created;
    });
  }

  async get<K extends ResourceKind>(kind: K, name: string): Promise<KindMap[K] | undefined> {
    const { rows } = await query<Row>(
      this.db.pool,
      `read ${kind} "${name}"`,
      'SELECT body, resource_version FROM resources WHERE kind = $1 AND namespace = $2 AND name = $3',
      [kind, DEFAULT_NAMESPACE, name],
    );
    return rows[0] ? this.parse<KindMap[K]>(rows[0]) : undefined;
  }

  async list<K extends ResourceKind>(kind: K): Promise<KindMap[K][]> {
    const { rows } = await query<Row>(
      this.db.pool,
      `list ${kind}`,
      'SELECT body, resource_version FROM resources WHERE kind = $1 AND namespace = $2 ORDER BY name',
      [kind, DEFAULT_NAMESPACE],
    );
    return rows.map((row) => this.parse<KindMap[K]>(row));
  }

  async create<K extends ResourceKind>(
    kind: K,
    name: string,
    spec: SpecOf<K>,
    status: StatusOf<K>,
    labels: Record<string, string> = {},
  ): Promise<KindMap[K]> {
    return transaction(this.db.pool, `create ${kind} "${name}"`, async (client) => {
      const resource = newResource(kind, name, spec, status, labels);
      if (!(await this.write(client, resource, 'ADDED', true))) throw new AlreadyExistsError(kind, name);
      return resource;
    });
  }

  async upsert<K extends ResourceKind>(
    kind: K,
    name: string,
    spec: SpecOf<K>,
    status: StatusOf<K>,
  ): Promise<KindMap[K]> {
    return transaction(this.db.pool, `write ${kind} "${name}"`, async (client) => {
      for (;;) {
        const existing = await this.lockRow<K>(client, kind, name);
        if (!existing) {
          const resource = newResource(kind, name, spec, status, {});
          if (await this.write(client, resource, 'ADDED', true)) return resource;
          continue; // created meanwhile by someone else: update theirs
        }
        // Like the Kubernetes API server: a spec change is a new generation.
        const specChanged = JSON.stringify(existing.spec) !== JSON.stringify(spec);
        const resource = {
          ...existing,
          metadata: {
            ...existing.metadata,
            generation: (existing.metadata.generation ?? 1) + (specChanged ? 1 : 0),
          },
          spec,
          status,
        } as KindMap[K];
        await this.write(client, resource, 'MODIFIED');
        return resource;
      }
    });
  }

  async updateStatus<K extends ResourceKind>(
    kind: K,
    name: string,
    mutate: (status: StatusOf<K>) => StatusOf<K>,
  ): Promise<KindMap[K]> {
    return transaction(this.db.pool, `update the status of ${kind} "${name}"`, async (client) => {
      const resource = await this.lockRow<K>(client, kind, name);
      if (!resource) throw new NotFoundError(kind, name);
      (resource as { status: StatusOf<K> }).status = mutate(structuredClone(resource.status as StatusOf<K>));
      await this.write(client, resource, 'MODIFIED');
      return resource;
    });
  }

  /** Reads a row and locks it until the transaction ends (concurrent writers queue up). */
  private async lockRow<K extends ResourceKind>(
    client: PgClient,
    kind: K,
    name: string,
  ): Promise<KindMap[K] | undefined> {
    const { rows } = await client.query<Row>(
      'SELECT body, resource_version FROM resources WHERE kind = $1 AND namespace = $2 AND name = $3 FOR UPDATE',
      [kind, DEFAULT_NAMESPACE, name],
    );
    return rows[0] ? this.parse<KindMap[K]>(rows[0]) : undefined;
  }

  async delete(kind: ResourceKind, name: string): Promise<boolean> {
    return transaction(this.db.pool, `delete ${kind} "${name}"`, async (client) => {
      const { rowCount } = await client.query(
        'DELETE FROM resources WHERE kind = $1 AND namespace = $2 AND name = $3',
        [kind, DEFAULT_NAMESPACE, name],
      );
      if (!rowCount) return false;
      const { rows } = await client.query<{ revision: string }>(
        `INSERT INTO resource_deletions (revision, kind, namespace, name)
         VALUES (nextval('resource_revision'), $1, $2, $3) RETURNING revision`,
        [kind, DEFAULT_NAMESPACE, name],
      );
      await client.query(
        `DELETE FROM resource_deletions WHERE deleted_at < now() - interval '${DELETION_LOG_RETENTION}'`,
      );
      await notify(client, { type: 'DELETED', kind, name, revision: Number(rows[0]!.revision) });
      return true;
    });
  }

  async revision(): Promise<number> {
    const { rows } = await query<{ last_value: string; is_called: boolean }>(
      this.db.pool,
      'read the store revision',
      'SELECT last_value, is_called FROM resource_revision',
    );
    return rows[0]!.is_called ? Number(rows[0]!.last_value) : 0;
  }

  /**
   * Calls `listener` for every change in `scope` (a kind, a name, or both) made by any process,
   * after it commits. Returns the function that stops it.
   */
  watch(scope: WatchScope, listener: (event: ResourceEvent) => void): () => void {
    return this.feed.subscribe((event) => {
      if (scope.kind !== undefined && event.kind !== scope.kind) return;
      if (scope.name !== undefined && event.name !== scope.name) return;
      listener({ type: event.type, kind: event.kind, name: event.name });
    });
  }

  /**
   * What changed after revision `seen`, in revision order (the feed's catch-up after a
   * reconnect). A transaction that took its revision before the connection dropped may have
   * committed after it, below `seen`: the catch-up reaches back RESYNC_OVERLAP revisions more
   * (repeats are harmless; a resource created in that overlap shows as MODIFIED).
   */
  private async changesSince(seen: number): Promise<RevisionedEvent[]> {
    const { rows } = await query<{
      kind: ResourceKind;
      name: string;
      revision: string;
      added: boolean;
      deleted: boolean;
    }>(
      this.db.pool,
      'read the changes a watcher missed',
      `SELECT kind, name, resource_version AS revision, created_revision > $1 AS added, false AS deleted
         FROM resources WHERE resource_version > $2 AND namespace = $3
       UNION ALL
       SELECT kind, name, revision, false, true
         FROM resource_deletions WHERE revision > $2 AND namespace = $3
       ORDER BY revision`,
      [seen, Math.max(0, seen - RESYNC_OVERLAP), DEFAULT_NAMESPACE],
    );
    return rows.map((r) => ({
      type: r.deleted ? 'DELETED' : r.added ? 'ADDED' : 'MODIFIED',
      kind: r.kind,
      name: r.name,
      revision: Number(r.revision),
    }));
  }

  /** Stops the feed; the pool belongs to whoever opened the database. */
  async close(): Promise<void> {
    await this.feed.close();
  }
}

function fieldExpression(field: FilterField, param: (value: unknown) => string): string {
  const reads = FILTER_FIELDS[field].map((p) => `body #>> ${param(pathArray(p))}::text[]`);
  return reads.length > 1 ? `coalesce(${reads.join(', ')})` : reads[0]!;
}

async function notify(client: PgClient, event: RevisionedEvent): Promise<void> {
  await client.query('SELECT pg_notify($1, $2)', [
    CHANNEL,
    JSON.stringify({ t: event.type, k: event.kind, n: event.name, r: event.revision }),
  ]);
}

function parseEvent(payload: string): RevisionedEvent | undefined {
  try {
    const { t, k, n, r } = JSON.parse(payload) as {
      t: ResourceEventType;
      k: ResourceKind;
      n: string;
      r: number;
    };
    return typeof n === 'string' && typeof r === 'number'
      ? { type: t, kind: k, name: n, revision: r }
      : undefined;
  } catch {
    return undefined;
  }
}
