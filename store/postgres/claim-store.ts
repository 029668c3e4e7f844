/**
 * Claim credentials in PostgreSQL. Single use without a lock held across the decision: the
 * record is read, the rules (pki/claim-credentials.ts) decide on it, and the binding is one
 * `UPDATE … WHERE used_at IS NULL … RETURNING`: of two gateways presenting the same token at
 * once, exactly one UPDATE finds the credential unused. The other finds no row, reads the
 * record again and lets the rules decide on what the winner wrote (the same device with the
 * same key is confirmed; anybody else is refused).
 */
import { WasmbedError } from '../../common/errors.js';
import {
  claimFromRow as fromRow,
  type ClaimBinding,
  type ClaimCredentialStore,
  type ClaimLookup,
  type ClaimRecord,
  type ClaimRow as Row,
  type NewClaimRecord,
} from '../../pki/claim-credential-store.js';
import type { PostgresDatabase } from './database.js';
import { query } from './pool.js';

const COLUMNS =
  'id, kind, secret_sha256, serial, device_name, created_at, expires_at, revoked_at, used_at, used_by, used_spki, outcome, reason';

/** How often bind() re-decides after losing a race before it gives up (each loss means a write). */
const BIND_ATTEMPTS = 5;

export class PostgresClaimCredentialStore implements ClaimCredentialStore {
  constructor(private readonly db: PostgresDatabase) {}

  async insert(record: NewClaimRecord): Promise<void> {
    await query(
      this.db.pool,
      `store claim credential ${record.id}`,
      `INSERT INTO claim_credentials (id, kind, secret_sha256, serial, device_name, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        record.id,
        record.kind,
        record.secretSha256,
        record.serial,
        record.deviceName,
        record.createdAt,
        record.expiresAt,
      ],
    );
  }

  async get(id: string): Promise<ClaimRecord | undefined> {
    return this.one(`read claim credential ${id}`, 'id = $1', [id]);
  }

  async find(lookup: ClaimLookup): Promise<ClaimRecord | undefined> {
    return 'secretSha256' in lookup
      ? this.one('look up an enrollment token', 'secret_sha256 = $1', [lookup.secretSha256])
      : this.one('look up a claim certificate', 'serial = $1', [lookup.serial]);
  }

  async list(): Promise<ClaimRecord[]> {
    const { rows } = await query<Row>(
      this.db.pool,
      'list claim credentials',
      `SELECT ${COLUMNS} FROM claim_credentials ORDER BY created_at DESC, seq DESC`,
    );
    return rows.map(fromRow);
  }

  async revoke(id: string, at: string): Promise<void> {
    await query(
      this.db.pool,
      `revoke claim credential ${id}`,
      'UPDATE claim_credentials SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
      [at, id],
    );
  }

  async bind(
    lookup: ClaimLookup,
    decide: (record: ClaimRecord | undefined) => ClaimBinding | undefined,
  ): Promise<ClaimRecord> {
    for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
      const record = await this.find(lookup);
      const binding = decide(record);
      if (!binding) return record!;
      // The decision was made on an unused, unrevoked, unrejected record: write it only if
      // that is still so. Whoever finds the row in that state first wins.
      const { rows } = await query<Row>(
        this.db.pool,
        `bind claim credential ${record!.id}`,
        `UPDATE claim_credentials SET used_at = $1, used_by = $2, used_spki = $3
          WHERE id = $4 AND used_at IS NULL AND revoked_at IS NULL AND outcome IS NULL
          RETURNING ${COLUMNS}`,
        [binding.usedAt, binding.usedBy, binding.usedSpki, record!.id],
      );
      if (rows[0]) return fromRow(rows[0]);
    }
    throw new WasmbedError('Conflict', 'the claim credential keeps changing under this enrollment; retry');
  }

  async finish(id: string, outcome: 'enrolled' | 'rejected', reason: string | null): Promise<void> {
    await query(
      this.db.pool,
      `record the outcome of claim credential ${id}`,
      'UPDATE claim_credentials SET outcome = $1, reason = $2 WHERE id = $3 AND (outcome IS NULL OR outcome = $1)',
      [outcome, reason, id],
    );
  }

  private async one(action: string, where: string, params: unknown[]): Promise<ClaimRecord | undefined> {
    const { rows } = await query<Row>(
      this.db.pool,
      action,
      `SELECT ${COLUMNS} FROM claim_credentials WHERE ${where}`,
      params,
    );
    return rows[0] ? fromRow(rows[0]) : undefined;
  }
}
