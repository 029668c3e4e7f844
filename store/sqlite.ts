/** Opens the platform's SQLite database, shared by the worker, gateway and web processes. */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

export function openDatabase(file: string): SqliteDatabase {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  // Several processes share this file: WAL lets readers proceed during writes and the
  // busy timeout turns lock contention into waiting instead of SQLITE_BUSY errors.
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 10000');
  db.pragma('synchronous = NORMAL');
  fs.chmodSync(file, 0o600); // holds device private keys
  return db;
}
