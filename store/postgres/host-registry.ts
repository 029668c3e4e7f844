/** The live device hosts (store/host-registry.ts) in PostgreSQL, table `device_hosts` (migrations 006, 007). */
import type { HostRecord, HostRegistry } from '../host-registry.js';
import type { PostgresDatabase } from './database.js';
import { query } from './pool.js';

interface Row {
  id: string;
  last_seen: string;
  pid: number;
  devices: number;
  restarted_at: string;
}

// bigint arrives as a string from node-postgres: epoch ms fit a JavaScript number.
const toRecord = (row: Row): HostRecord => ({
  id: row.id,
  lastSeen: Number(row.last_seen),
  pid: row.pid,
  devices: row.devices,
  restartedAt: Number(row.restarted_at),
});

export class PostgresHostRegistry implements HostRegistry {
  constructor(private readonly db: PostgresDatabase) {}

  async beat(record: HostRecord): Promise<void> {
    await query(
      this.db.pool,
      'record a device host heartbeat',
      `INSERT INTO device_hosts (id, last_seen, pid, devices, restarted_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET last_seen = EXCLUDED.last_seen, pid = EXCLUDED.pid,
         devices = EXCLUDED.devices, restarted_at = EXCLUDED.restarted_at`,
      [record.id, record.lastSeen, record.pid, record.devices, record.restartedAt],
    );
  }

  async list(): Promise<HostRecord[]> {
    const { rows } = await query<Row>(
      this.db.pool,
      'list device hosts',
      'SELECT * FROM device_hosts ORDER BY id',
    );
    return rows.map(toRecord);
  }

  async get(id: string): Promise<HostRecord | undefined> {
    const { rows } = await query<Row>(
      this.db.pool,
      'read a device host',
      'SELECT * FROM device_hosts WHERE id = $1',
      [id],
    );
    return rows[0] && toRecord(rows[0]);
  }
}
