/** The device log in SQLite: one table, trimmed to the newest `keepPerDevice` lines per device. */
import { DEVICE_LOG_KEEP_PER_DEVICE, type DeviceLogEntry, type DeviceLogs } from './device-logs.js';
import type { SqliteDatabase } from './sqlite.js';

export class SqliteDeviceLogs implements DeviceLogs {
  private inserted = 0;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly keepPerDevice = DEVICE_LOG_KEEP_PER_DEVICE,
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS device_logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device TEXT NOT NULL,
        time TEXT NOT NULL,
        app_id TEXT,
        kind TEXT NOT NULL,
        level INTEGER NOT NULL,
        message TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS device_logs_by_device ON device_logs (device, id);
    `);
  }

  async append(entry: Omit<DeviceLogEntry, 'id'>): Promise<void> {
    this.db
      .prepare(
        'INSERT INTO device_logs (device, time, app_id, kind, level, message) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(entry.device, entry.time, entry.appId, entry.kind, entry.level, entry.message);
    // Trim now and then rather than on every line.
    if (++this.inserted % 200 === 0) this.trim(entry.device);
  }

  private trim(device: string): void {
    this.db
      .prepare(
        `DELETE FROM device_logs WHERE device = ? AND id <= (
           SELECT id FROM device_logs WHERE device = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
      )
      .run(device, device, this.keepPerDevice);
  }

  /** Entries after `afterId` (for following), oldest first, at most `limit`. */
  async list(
    device: string,
    options: { afterId?: number; limit?: number; appId?: string } = {},
  ): Promise<DeviceLogEntry[]> {
    const rows = this.db
      .prepare(
        `SELECT id, device, time, app_id AS appId, kind, level, message FROM device_logs
         WHERE device = ? AND id > ? AND (? IS NULL OR app_id = ?)
         ORDER BY id DESC LIMIT ?`,
      )
      .all(
        device,
        options.afterId ?? 0,
        options.appId ?? null,
        options.appId ?? null,
        options.limit ?? 200,
      ) as DeviceLogEntry[];
    return rows.reverse();
  }

  async deleteDevice(device: string): Promise<void> {
    this.db.prepare('DELETE FROM device_logs WHERE device = ?').run(device);
  }
}
