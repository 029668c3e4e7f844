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
  /**
   * Epoch ms the host's process started, when it started again with devices of its own to resume
   * (a restart after kill -9 or a crash); 0 for a host that started empty, and on rows from before
   * it was recorded. Such a host is still bringing its devices back, and their lifecycles leave
   * them to it for its grace period (activities/lifecycle.ts, hostRestartWaitMs).
   */
  restartedAt: number;
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
  devices   INTEGER NOT NULL,
  restarted_at INTEGER NOT NULL DEFAULT 0
);`;

interface Row {
  id: string;
  last_seen: number;
  pid: number;
  devices: number;
  restarted_at: number;
}

const toRecord = (row: Row): HostRecord => ({
  id: row.id,
  lastSeen: row.last_seen,
  pid: row.pid,
  devices: row.devices,
  restartedAt: row.restarted_at,
});

export class SqliteHostRegistry implements HostRegistry {
  constructor(private readonly db: SqliteDatabase) {
    db.exec(SCHEMA);
    // A database made before restarted_at was recorded gets the column (0: no restart known).
    const columns = db.prepare('PRAGMA table_info(device_hosts)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'restarted_at')) {
      db.exec('ALTER TABLE device_hosts ADD COLUMN restarted_at INTEGER NOT NULL DEFAULT 0');
    }
  }

  async beat(record: HostRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO device_hosts (id, last_seen, pid, devices, restarted_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, pid = excluded.pid,
           devices = excluded.devices, restarted_at = excluded.restarted_at`,
      )
      .run(record.id, record.lastSeen, record.pid, record.devices, record.restartedAt);
  }

  async list(): Promise<HostRecord[]> {
    return (this.db.prepare('SELECT * FROM device_hosts ORDER BY id').all() as Row[]).map(toRecord);
  }

  async get(id: string): Promise<HostRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM device_hosts WHERE id = ?').get(id) as Row | undefined;
    return row && toRecord(row);
  }
}
