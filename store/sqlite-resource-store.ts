import { randomUUID } from 'node:crypto';
import { AlreadyExistsError, NotFoundError } from '../common/errors.js';
import {
  API_VERSION,
  DEFAULT_NAMESPACE,
  type Device,
  type DeviceSpec,
  type DeviceStatus,
  type Gateway,
  type GatewaySpec,
  type GatewayStatus,
  type Resource,
} from '../common/resources.js';
import type { ResourceStore } from './resource-store.js';
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

  private read<T>(kind: string, name: string): T | undefined {
    const row = this.db
      .prepare('SELECT body, resource_version FROM resources WHERE kind = ? AND namespace = ? AND name = ?')
      .get(kind, DEFAULT_NAMESPACE, name) as Row | undefined;
    return row ? this.parse<T>(row) : undefined;
  }

  private parse<T>(row: Row): T {
    const resource = JSON.parse(row.body) as Resource<unknown, unknown>;
    resource.metadata.resourceVersion = String(row.resource_version);
    return resource as T;
  }

  private list<T>(kind: string): T[] {
    const rows = this.db
      .prepare('SELECT body, resource_version FROM resources WHERE kind = ? AND namespace = ? ORDER BY name')
      .all(kind, DEFAULT_NAMESPACE) as Row[];
    return rows.map((row) => this.parse<T>(row));
  }

  private write(resource: Resource<unknown, unknown>): void {
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

  createDevice(name: string, spec: DeviceSpec): Device {
    return this.db
      .transaction((): Device => {
        if (this.read('Device', name)) throw new AlreadyExistsError('Device', name);
        const device: Device = {
          apiVersion: API_VERSION,
          kind: 'Device',
          metadata: {
            name,
            namespace: DEFAULT_NAMESPACE,
            labels: spec.labels ?? {},
            uid: randomUUID(),
            generation: 1,
            creationTimestamp: new Date().toISOString(),
          },
          spec,
          status: { phase: 'Pending', conditions: [], apps: {} },
        };
        this.write(device);
        return device;
      })
      .immediate();
  }

  getDevice(name: string): Device | undefined {
    return this.read<Device>('Device', name);
  }

  listDevices(): Device[] {
    return this.list<Device>('Device');
  }

  updateDeviceStatus(name: string, mutate: (status: DeviceStatus) => DeviceStatus): Device {
    return this.db
      .transaction((): Device => {
        const device = this.read<Device>('Device', name);
        if (!device) throw new NotFoundError('Device', name);
        device.status = mutate(structuredClone(device.status));
        this.write(device);
        return device;
      })
      .immediate();
  }

  deleteDevice(name: string): boolean {
    return this.db
      .transaction((): boolean => {
        const result = this.db
          .prepare('DELETE FROM resources WHERE kind = ? AND namespace = ? AND name = ?')
          .run('Device', DEFAULT_NAMESPACE, name);
        if (result.changes > 0) this.nextRevision();
        return result.changes > 0;
      })
      .immediate();
  }

  upsertGateway(name: string, spec: GatewaySpec, status: GatewayStatus): Gateway {
    return this.db
      .transaction((): Gateway => {
        const existing = this.read<Gateway>('Gateway', name);
        const gateway: Gateway = {
          apiVersion: API_VERSION,
          kind: 'Gateway',
          metadata: existing?.metadata ?? {
            name,
            namespace: DEFAULT_NAMESPACE,
            labels: {},
            uid: randomUUID(),
            generation: 1,
            creationTimestamp: new Date().toISOString(),
          },
          spec,
          status,
        };
        this.write(gateway);
        return gateway;
      })
      .immediate();
  }

  getGateway(name: string): Gateway | undefined {
    return this.read<Gateway>('Gateway', name);
  }

  listGateways(): Gateway[] {
    return this.list<Gateway>('Gateway');
  }

  updateGatewayStatus(name: string, mutate: (status: GatewayStatus) => GatewayStatus): Gateway {
    return this.db
      .transaction((): Gateway => {
        const gateway = this.read<Gateway>('Gateway', name);
        if (!gateway) throw new NotFoundError('Gateway', name);
        gateway.status = mutate(structuredClone(gateway.status));
        this.write(gateway);
        return gateway;
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
