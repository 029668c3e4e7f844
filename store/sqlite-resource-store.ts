import { randomUUID } from 'node:crypto';
import { AlreadyExistsError, NotFoundError } from '../common/errors.js';
import { API_VERSION, DEFAULT_NAMESPACE, type KindMap, type ResourceKind } from '../common/resources.js';
import type { ResourceStore, SpecOf, StatusOf } from './resource-store.js';
import type { SqliteDatabase } from './sqlite.js';

interface Row {
  body: string;
  resource_version: number;
}

/** Local backend: one row per resource, the resource itself as JSON. */
export class SqliteResourceStore implements ResourceStore {
  constructor(private readonly db: SqliteDatabase) {
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
  }

  private nextRevision(): number {
    const row = this.db
      .prepare('UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value')
      .get() as {
      value: number;
    };
    return row.value;
  }

  private parse<T>(row: Row): T {
    const resource = JSON.parse(row.body) as { metadata: { resourceVersion?: string } };
    resource.metadata.resourceVersion = String(row.resource_version);
    return resource as T;
  }

  private write(resource: KindMap[ResourceKind]): void {
    const rv = this.nextRevision();
    const { resourceVersion: _ignored, ...metadata } = resource.metadata;
    this.db
      .prepare(
        `INSERT INTO resources (kind, namespace, name, resource_version, body) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (kind, namespace, name) DO UPDATE SET resource_version = excluded.resource_version, body = excluded.body`,
      )
      .run(resource.kind, metadata.namespace, metadata.name, rv, JSON.stringify({ ...resource, metadata }));
    resource.metadata.resourceVersion = String(rv);
  }

  private newResource<K extends ResourceKind>(
    kind: K,
    name: string,
    spec: SpecOf<K>,
    status: StatusOf<K>,
    labels: Record<string, string>,
  ): KindMap[K] {
    return {
      apiVersion: API_VERSION,
      kind,
      metadata: {
        name,
        namespace: DEFAULT_NAMESPACE,
        labels,
        uid: randomUUID(),
        generation: 1,
        creationTimestamp: new Date().toISOString(),
      },
      spec,
      status,
    } as unknown as KindMap[K];
  }

  get<K extends ResourceKind>(kind: K, name: string): KindMap[K] | undefined {
    const row = this.db
      .prepare('SELECT body, resource_version FROM resources WHERE kind = ? AND namespace = ? AND name = ?')
      .get(kind, DEFAULT_NAMESPACE, name) as Row | undefined;
    return row ? this.parse<KindMap[K]>(row) : undefined;
  }

  list<K extends ResourceKind>(kind: K): KindMap[K][] {
    const rows = this.db
      .prepare('SELECT body, resource_version FROM resources WHERE kind = ? AND namespace = ? ORDER BY name')
      .all(kind, DEFAULT_NAMESPACE) as Row[];
    return rows.map((row) => this.parse<KindMap[K]>(row));
  }

  create<K extends ResourceKind>(
    kind: K,
    name: string,
    spec: SpecOf<K>,
    status: StatusOf<K>,
    labels: Record<string, string> = {},
  ): KindMap[K] {
    return this.db
      .transaction((): KindMap[K] => {
        if (this.get(kind, name)) throw new AlreadyExistsError(kind, name);
        const resource = this.newResource(kind, name, spec, status, labels);
        this.write(resource);
        return resource;
      })
      .immediate();
  }

  upsert<K extends ResourceKind>(kind: K, name: string, spec: SpecOf<K>, status: StatusOf<K>): KindMap[K] {
    return this.db
      .transaction((): KindMap[K] => {
        const existing = this.get(kind, name);
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
          : this.newResource(kind, name, spec, status, {});
        this.write(resource);
        return resource;
      })
      .immediate();
  }

  updateStatus<K extends ResourceKind>(
    kind: K,
    name: string,
    mutate: (status: StatusOf<K>) => StatusOf<K>,
  ): KindMap[K] {
    return this.db
      .transaction((): KindMap[K] => {
        const resource = this.get(kind, name);
        if (!resource) throw new NotFoundError(kind, name);
        (resource as { status: StatusOf<K> }).status = mutate(
          structuredClone(resource.status as StatusOf<K>),
        );
        this.write(resource);
        return resource;
      })
      .immediate();
  }

  delete(kind: ResourceKind, name: string): boolean {
    return this.db
      .transaction((): boolean => {
        const result = this.db
          .prepare('DELETE FROM resources WHERE kind = ? AND namespace = ? AND name = ?')
          .run(kind, DEFAULT_NAMESPACE, name);
        if (result.changes > 0) this.nextRevision();
        return result.changes > 0;
      })
      .immediate();
  }

  revision(): number {
    return (this.db.prepare('SELECT value FROM revision WHERE id = 1').get() as { value: number }).value;
  }

  close(): void {
    this.db.close();
  }
}
