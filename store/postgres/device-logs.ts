/**
 * Per-device log lines and app output in PostgreSQL: the same bounded ring per device as the
 * SQLite table (store/device-logs.ts), readable by every process on every machine.
 */
import { DEVICE_LOG_KEEP_PER_DEVICE, type DeviceLogEntry, type DeviceLogs } from '../device-logs.js';
import type { PostgresDatabase } from './database.js';
import { query } from './pool.js';

interface Row {
  id: string;
  device: string;
  time: string;
  app_id: string | null;
  kind: 'log' | 'publish';
  level: number;
  message: string;
}

export class PostgresDeviceLogs implements DeviceLogs {
  private inserted = 0;

  constructor(
    private readonly db: PostgresDatabase,
    private readonly keepPerDevice = DEVICE_LOG_KEEP_PER_DEVICE,
  ) {}

  async append(entry: Omit<DeviceLogEntry, 'id'>): Promise<void> {
    await query(
      this.db.pool,
      `append to the log of device "${entry.device}"`,
      'INSERT INTO device_logs (device, time, app_id, kind, level, message) VALUES ($1, $2, $3, $4, $5, $6)',
      [entry.device, entry.time, entry.appId, entry.kind, entry.level, entry.message],
    );
    // Trim now and then rather than on every line.
    if (++this.inserted % 200 === 0) await this.trim(entry.device);
  }

  private async trim(device: string): Promise<void> {
    await query(
      this.db.pool,
      `trim the log of device "${device}"`,
      `DELETE FROM device_logs WHERE device = $1 AND id <= (
         SELECT id FROM device_logs WHERE device = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)`,
      [device, this.keepPerDevice],
    );
  }

  /** Entries after `afterId` (for following), oldest first, at most `limit`. */
  async list(
    device: string,
    options: { afterId?: number; limit?: number; appId?: string } = {},
  ): Promise<DeviceLogEntry[]> {
    const { rows } = await query<Row>(
      this.db.pool,
      `read the log of device "${device}"`,
      `SELECT id, device, time, app_id, kind, level, message FROM device_logs
       WHERE device = $1 AND id > $2 AND ($3::text IS NULL OR app_id = $3)
       ORDER BY id DESC LIMIT $4`,
      [device, options.afterId ?? 0, options.appId ?? null, options.limit ?? 200],
    );
    return rows.reverse().map((r) => ({
      id: Number(r.id),
      device: r.device,
      time: r.time,
      appId: r.app_id,
      kind: r.kind,
      level: r.level,
      message: r.message,
    }));
  }

  async deleteDevice(device: string): Promise<void> {
    await query(
      this.db.pool,
      `delete the log of device "${device}"`,
      'DELETE FROM device_logs WHERE device = $1',
      [device],
    );
  }
}
