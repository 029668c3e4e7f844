/**
 * Which device hosts are alive: each host records itself here every HOST_HEARTBEAT_MS
 * (host/main.ts), and placement reads it — a new device goes to a live host, and a device whose
 * host has been silent longer than the grace period is brought back on another one.
 *
 * A record in the platform's database rather than Temporal's DescribeTaskQueue pollers: placement
 * must list the hosts (a fresh host owns no device yet, so no device names its task queue), and
 * a dead worker stays listed as a poller for minutes with a last-access time that is up to one
 * long poll (about a minute) old even for a live, idle worker — too coarse to tell a restart
 * from a death. ARCHITECTURE.md ("Device hosts") has the reasoning.
 */
import type { SqliteDatabase } from './sqlite.js';

export interface HostRecord {
  id: string;
  /** Epoch ms of the host's last heartbeat. */
  lastSeen: number;
  pid: number;
  /** Devices running in the host at its last heartbeat. */
  devices: number;
}

export interface HostRegistry {
  /** Records that the host is alive now. */
  beat(record: HostRecord): Promise<void>;
  list(): Promise<HostRecord[]>;
  get(id: string): Promise<HostRecord | undefined>;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS device_hosts (
  id        TEXT PRIMARY KEY,
  last_seen INTEGER NOT NULL,
  pid       INTEGER NOT NULL,
  devices   INTEGER NOT NULL
);`;

interface Row {
  id: string;
  last_seen: number;
  pid: number;
  devices: number;
}

const toRecord = (row: Row): HostRecord => ({
  id: row.id,
  lastSeen: row.last_seen,
  pid: row.pid,
  devices: row.devices,
});

export class SqliteHostRegistry implements HostRegistry {
  constructor(private readonly db: SqliteDatabase) {
    db.exec(SCHEMA);
  }

  async beat(record: HostRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO device_hosts (id, last_seen, pid, devices) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, pid = excluded.pid,
           devices = excluded.devices`,
      )
      .run(record.id, record.lastSeen, record.pid, record.devices);
  }

  async list(): Promise<HostRecord[]> {
    return (this.db.prepare('SELECT * FROM device_hosts ORDER BY id').all() as Row[]).map(toRecord);
  }

  async get(id: string): Promise<HostRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM device_hosts WHERE id = ?').get(id) as Row | undefined;
    return row && toRecord(row);
  }
}
