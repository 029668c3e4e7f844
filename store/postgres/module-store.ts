/**
 * WebAssembly modules by content hash in PostgreSQL (bytea). On several machines there is no
 * shared disk for `<home>/modules/`, so the bytes live in the database with their hash; every
 * read checks the bytes against it, as the file store does.
 */
import { NotFoundError, WasmbedError } from '../../common/errors.js';
import { checkModuleRef, sha256Hex, type ModuleStore, type StoredModule } from '../module-store.js';
import type { PostgresDatabase } from './database.js';
import { query } from './pool.js';

export class PostgresModuleStore implements ModuleStore {
  constructor(private readonly db: PostgresDatabase) {}

  async put(bytes: Uint8Array): Promise<{ sha256: string; size: number }> {
    const sha256 = sha256Hex(bytes);
    await query(
      this.db.pool,
      `store module ${sha256}`,
      `INSERT INTO modules (sha256, size, bytes) VALUES ($1, $2, $3)
       ON CONFLICT (sha256) DO UPDATE SET stored_at = now()`,
      [sha256, bytes.length, Buffer.from(bytes)],
    );
    return { sha256, size: bytes.length };
  }

  async get(sha256: string): Promise<Buffer> {
    checkModuleRef(sha256);
    const { rows } = await query<{ bytes: Buffer }>(
      this.db.pool,
      `read module ${sha256}`,
      'SELECT bytes FROM modules WHERE sha256 = $1',
      [sha256],
    );
    if (!rows[0]) throw new NotFoundError('Module', sha256);
    if (sha256Hex(rows[0].bytes) !== sha256) {
      throw new WasmbedError('ModuleCorrupted', `module ${sha256} in the database does not match its hash`);
    }
    return rows[0].bytes;
  }

  async has(sha256: string): Promise<boolean> {
    checkModuleRef(sha256);
    const { rowCount } = await query(
      this.db.pool,
      `look up module ${sha256}`,
      'SELECT 1 FROM modules WHERE sha256 = $1',
      [sha256],
    );
    return (rowCount ?? 0) > 0;
  }

  async list(): Promise<StoredModule[]> {
    const { rows } = await query<{ sha256: string; size: number; stored_at: Date }>(
      this.db.pool,
      'list modules',
      'SELECT sha256, size, stored_at FROM modules',
    );
    return rows.map((row) => ({ sha256: row.sha256, size: row.size, storedAt: row.stored_at }));
  }

  async remove(listed: StoredModule): Promise<boolean> {
    const sha256 = checkModuleRef(listed.sha256);
    const { rowCount } = await query(
      this.db.pool,
      `remove module ${sha256}`,
      'DELETE FROM modules WHERE sha256 = $1 AND stored_at <= $2',
      [sha256, listed.storedAt],
    );
    return (rowCount ?? 0) > 0;
  }
}
