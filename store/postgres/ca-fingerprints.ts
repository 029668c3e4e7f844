/** The platform's CA fingerprints (pki/shared-ca.ts) in PostgreSQL, table `platform_cas` (migration 010). */
import type { CaFingerprints } from '../../pki/shared-ca.js';
import type { PostgresDatabase } from './database.js';
import { query } from './pool.js';

export class PostgresCaFingerprints implements CaFingerprints {
  constructor(private readonly db: PostgresDatabase) {}

  async recorded(name: string): Promise<string | undefined> {
    const { rows } = await query<{ cert_sha256: string }>(
      this.db.pool,
      'read the platform CA fingerprint',
      'SELECT cert_sha256 FROM platform_cas WHERE name = $1',
      [name],
    );
    return rows[0]?.cert_sha256;
  }

  async issuedCertificate(name: string): Promise<string | undefined> {
    // Only the device CA's certificates are kept (the ledger); claim credentials keep no certificate.
    if (name !== 'device') return undefined;
    const { rows } = await query<{ cert_pem: string }>(
      this.db.pool,
      'read a device certificate',
      'SELECT cert_pem FROM certificates ORDER BY seq DESC LIMIT 1',
    );
    return rows[0]?.cert_pem;
  }

  async recordIfAbsent(name: string, sha256: string): Promise<string> {
    // Two first processes at once: one insert wins, both read the winner's.
    await query(
      this.db.pool,
      'record the platform CA fingerprint',
      'INSERT INTO platform_cas (name, cert_sha256) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
      [name, sha256],
    );
    const recorded = await this.recorded(name);
    if (recorded === undefined)
      throw new Error(`platform_cas has no row for ${name} right after inserting it`);
    return recorded;
  }
}
