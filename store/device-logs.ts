/**
 * Per-device log: UART-like lines from the firmware and the output of its apps (Log and
 * Publish messages), kept as a bounded ring per device.
 */

export interface DeviceLogEntry {
  id: number;
  device: string;
  time: string;
  appId: string | null;
  kind: 'log' | 'publish';
  level: number;
  /** Log text, or for a publish the topic and the payload (UTF-8 when printable, else hex). */
  message: string;
}

/** Lines of a device's log the store keeps: older ones are trimmed as new ones come. */
export const DEVICE_LOG_KEEP_PER_DEVICE = 1000;

/** The per-device log. SQLite: store/sqlite-device-logs.ts. */
export interface DeviceLogs {
  append(entry: Omit<DeviceLogEntry, 'id'>): Promise<void>;
  /** Entries after `afterId` (for following), oldest first, at most `limit` (the newest ones). */
  list(
    device: string,
    options?: { afterId?: number; limit?: number; appId?: string },
  ): Promise<DeviceLogEntry[]>;
  deleteDevice(device: string): Promise<void>;
}

export function describePayload(data: Uint8Array): string {
  const text = Buffer.from(data).toString('utf8');
  return /^[\x20-\x7e\t\n\r]*$/.test(text) ? text : Buffer.from(data).toString('hex');
}
