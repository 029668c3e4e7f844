import type Database from 'better-sqlite3';
import { AlreadyExistsError, NotFoundError } from '../common/errors.js';
import { DEFAULT_NAMESPACE, type KindMap, type ResourceKind } from '../common/resources.js';
import {
  APPS_PATH,
  FILTER_FIELDS,
  cut,
  type FilterField,
  resolveQuery,
  type ListPage,
  type ListQuery,
  type ResolvedQuery,
} from './list-query.js';
import type {
  NewResource,
  ResourceStore,
  SpecOf,
  StatusOf,
  StoreEvent,
  WatchScope,
} from './resource-store.js';
import { newResource } from './new-resource.js';
import { SqliteChangeFeed, type ChangeFeedOptions } from './sqlite-change-feed.js';
import type { SqliteDatabase } from './sqlite.js';

interface Row {
  body: string;
  resource_version: number;
}

/**
 * Local backend: one row per resource, the resource itself as JSON. better-sqlite3 answers
 * synchronously in microseconds; the methods are async only to fit ResourceStore, and each
 * read-modify-write still runs in one BEGIN IMMEDIATE transaction. Every write also records
 * its change in the change feed (store/sqlite-change-feed.ts), in the same transaction.
 */
export class SqliteResourceStore implements ResourceStore {
  /** Prepared statements by SQL text: list queries vary with their filters. */
  private readonly statements = new Map<string, Database.Statement<unknown[]>>();
  private readonly feed: SqliteChangeFeed;

  constructor(
    private readonly db: SqliteDatabase,
    options: ChangeFeedOptions = {},
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS resources (
        kind TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        resource_version INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, namespace, name)
      );
      CREATE TABLE IF NOT EXISTS revision (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
      INSERT OR IGNORE INTO revision (id, value) VALUES (1, 0);
    `);
    this.feed = new SqliteChangeFeed(db, options);
  }

  private prepared(sql: string): Database.Statement<unknown[]> {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare<unknown[]>(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** Reserves `count` resource versions (one counter for the store) and returns the last one. */
  private nextRevision(count = 1): number {
    const row = this.prepared('UPDATE revision SET value = value + ? WHERE id = 1 RETURNING value').get(
      count,
    ) as {
      value: number;
    };
    return row.value;
  }

  private parse<T>(row: Row): T {
    const resource = JSON.parse(row.body) as { metadata: { resourceVersion?: string } };
    resource.metadata.resourceVersion = String(row.resource_version);
    return resource as T;
  }

  /** Runs `work` in one BEGIN IMMEDIATE transaction; this process's watchers hear of it after the commit. */
  private transaction<T>(work: () => T): T {
    const result = this.db.transaction(work).immediate();
    this.feed.committed();
    return result;
  }

  private write(resource: KindMap[ResourceKind], type: StoreEvent['type'], rv = this.nextRevision()): void {
    const { resourceVersion: _ignored, ...metadata } = resource.metadata;
    this.prepared(
      `INSERT INTO resources (kind, namespace, name, resource_version, body) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (kind, namespace, name) DO UPDATE SET resource_version = excluded.resource_version, body = excluded.body`,
    ).run(resource.kind, metadata.namespace, metadata.name, rv, JSON.stringify({ ...resource, metadata }));
    resource.metadata.resourceVersion = String(rv);
    this.feed.record(resource.kind, metadata.name, type);
  }

  /** The WHERE clause of a list query: FILTER_FIELDS, the app and label requirements as json_extract. */
  private where(kind: ResourceKind, q: ResolvedQuery, withCursor: boolean): { sql: string; args: unknown[] } {
    const clauses = ['kind = ?', 'namespace = ?'];
    const args: unknown[] = [kind, DEFAULT_NAMESPACE];
    if (withCursor && q.after !== undefined) {
      clauses.push('name > ?');
      args.push(q.after);
    }
    if (q.namePrefix) {
      clauses.push('substr(name, 1, ?) = ?');
      args.push(q.namePrefix.length, q.namePrefix);
    }
    for (const [field, value] of q.fields) {
      const paths = FILTER_FIELDS[field].map((p) => `$.${p}`);
      const reads = paths.map(() => 'json_extract(body, ?)');
      clauses.push(`${reads.length > 1 ? `coalesce(${reads.join(', ')})` : reads[0]} = ?`);
      args.push(...paths, value);
    }
    if (q.app) {
      // The name passed resolveQuery's DNS-label check: no quote can end the path early.
      const entry = `$.${APPS_PATH.join('.')}."${q.app.name}"`;
      if (q.app.state === undefined) clauses.push('json_type(body, ?) IS NOT NULL');
      else clauses.push('json_extract(body, ?) = ?');
      args.push(...(q.app.state === undefined ? [entry] : [`${entry}.state`, q.app.state]));
    }
    for (const { key, op, value } of q.labels) {
      // The key passed parseLabelSelector's label-key pattern: no quote can end the path early.
      const path = `$.metadata.labels."${key}"`;
      if (op === '=') clauses.push('json_extract(body, ?) = ?');
      else if (op === '!=') clauses.push('coalesce(json_extract(body, ?) != ?, 1)');
      else clauses.push(`json_type(body, ?) IS ${op === 'exists' ? 'NOT ' : ''}NULL`);
      args.push(path, ...(value !== undefined ? [value] : []));
    }
    return { sql: clauses.join(' AND '), args };
  }

  async listPage<K extends ResourceKind>(kind: K, query: ListQuery = {}): Promise<ListPage<KindMap[K]>> {
    const q = resolveQuery(kind, query);
    const { sql, args } = this.where(kind, q, true);
    const limit = q.limit === undefined ? '' : ' LIMIT ?';
    const rows = this.prepared(
      `SELECT body, resource_version FROM resources WHERE ${sql} ORDER BY name${limit}`,
    ).all(...args, ...(q.limit === undefined ? [] : [q.limit + 1])) as Row[];
    const items = rows.map((row) => this.parse<KindMap[K]>(row));
    const total =
      q.limit !== undefined && items.length > q.limit
        ? (this.prepared(`SELECT count(*) AS n FROM resources WHERE ${sql}`).get(...args) as { n: number }).n
        : items.length;
    return cut(items, q, (item) => item.metadata.name, total);
  }

  async countBy(
    kind: ResourceKind,
    field: FilterField,
    query: ListQuery = {},
  ): Promise<Record<string, number>> {
    const { sql, args } = this.where(kind, resolveQuery(kind, { ...query, continue: undefined }), false);
    const paths = FILTER_FIELDS[field].map((p) => `$.${p}`);
    const reads = paths.map(() => 'json_extract(body, ?)');
    const value = reads.length > 1 ? `coalesce(${reads.join(', ')})` : reads[0];
    const rows = this.prepared(
      `SELECT ${value} AS value, count(*) AS n FROM resources WHERE ${sql} GROUP BY value`,
    ).all(...paths, ...args) as { value: string | null; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.value ?? '', r.n]));
  }

  async createMany<K extends ResourceKind>(kind: K, items: NewResource<K>[]): Promise<KindMap[K][]> {
    return this.transaction((): KindMap[K][] => {
      const exists = this.prepared('SELECT 1 FROM resources WHERE kind = ? AND namespace = ? AND name = ?');
      const seen = new Set<string>();
      for (const item of items) {
        if (seen.has(item.name) || exists.get(kind, DEFAULT_NAMESPACE, item.name))
          throw new AlreadyExistsError(kind, item.name);
        seen.add(item.name);
      }
      let rv = this.nextRevision(items.length) - items.length;
      return items.map((item) => {
        const resource = newResource(kind, item.name, item.spec, item.status, item.labels ?? {});
        this.write(resource, 'ADDED', ++rv);
        return resource;
      });
    });
  }

  async get<K extends ResourceKind>(kind: K, name: string): Promise<KindMap[K] | undefined> {
    return this.read(kind, name);
  }

  /** get() without the promise: for the read of a read-modify-write inside one transaction. */
  private read<K extends ResourceKind>(kind: K, name: string): KindMap[K] | undefined {
    const row = this.prepared(
      'SELECT body, resource_version FROM resources WHERE kind = ? AND namespace = ? AND name = ?',
    ).get(kind, DEFAULT_NAMESPACE, name) as Row | undefined;
    return row ? this.parse<KindMap[K]>(row) : undefined;
  }

  async list<K extends ResourceKind>(kind: K): Promise<KindMap[K][]> {
    const rows = this.prepared(
      'SELECT body, resource_version FROM resources WHERE kind = ? AND namespace = ? ORDER BY name',
    ).all(kind, DEFAULT_NAMESPACE) as Row[];
    return rows.map((row) => this.parse<KindMap[K]>(row));
  }

  async create<K extends ResourceKind>(
    kind: K,
    name: string,
    spec: SpecOf<K>,
    status: StatusOf<K>,
    labels: Record<string, string> = {},
  ): Promise<KindMap[K]> {
    return this.transaction((): KindMap[K] => {
      if (this.read(kind, name)) throw new AlreadyExistsError(kind, name);
      const resource = newResource(kind, name, spec, status, labels);
      this.write(resource, 'ADDED');
      return resource;
    });
  }

  async upsert<K extends ResourceKind>(
    kind: K,
    name: string,
    spec: SpecOf<K>,
    status: StatusOf<K>,
  ): Promise<KindMap[K]> {
    return this.transaction((): KindMap[K] => {
      const existing = this.read(kind, name);
      // Like the Kubernetes API server: a spec change is a new generation.
      const specChanged = existing && JSON.stringify(existing.spec) !== JSON.stringify(spec);
      const resource = existing
        ? ({
            ...existing,
            metadata: {
              ...existing.metadata,
              generation: (existing.metadata.generation ?? 1) + (specChanged ? 1 : 0),
            },
            spec,
            status,
          } as KindMap[K])
        : newResource(kind, name, spec, status, {});
      this.write(resource, existing ? 'MODIFIED' : 'ADDED');
      return resource;
    });
  }

  async updateStatus<K extends ResourceKind>(
    kind: K,
    name: string,
    mutate: (status: StatusOf<K>) => StatusOf<K>,
  ): Promise<KindMap[K]> {
    return this.transaction((): KindMap[K] => {
      const resource = this.read(kind, name);
      if (!resource) throw new NotFoundError(kind, name);
      (resource as { status: StatusOf<K> }).status = mutate(structuredClone(resource.status as StatusOf<K>));
      this.write(resource, 'MODIFIED');
      return resource;
    });
  }

  async delete(kind: ResourceKind, name: string): Promise<boolean> {
    return this.transaction((): boolean => {
      const result = this.prepared('DELETE FROM resources WHERE kind = ? AND namespace = ? AND name = ?').run(
        kind,
        DEFAULT_NAMESPACE,
        name,
      );
      if (result.changes === 0) return false;
      this.nextRevision();
      this.feed.record(kind, name, 'DELETED');
      return true;
    });
  }

  watch(scope: WatchScope, listener: (event: StoreEvent) => void): () => void {
    return this.feed.watch(scope, listener);
  }

  async revision(): Promise<number> {
    return (this.prepared('SELECT value FROM revision WHERE id = 1').get() as { value: number }).value;
  }

  async close(): Promise<void> {
    this.feed.close();
    this.db.close();
  }
}
