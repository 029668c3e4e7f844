/**
 * The device certificate ledger in PostgreSQL. "At most one non-revoked certificate per
 * device" is the partial unique index `certificates_one_active_per_device` (migration 002): an
 * insert that would make a second one fails in the database, whichever process tries, and the
 * loser answers with the winner's record. A renewal locks the active row (FOR UPDATE), so two
 * renewals of one device queue up and the second sees the first's certificate.
 *
 * Private keys of CA-generated device keys are stored in `key_pem` in clear text: protect the
 * database like ca.key (its own role, TLS to it, encrypted backups).
 */
import { errorMessage } from '../../common/errors.js';
import { serialHex } from '../../pki/certificate-info.js';
import { PkiError } from '../../pki/errors.js';
import {
  certificateFromRow as fromRow,
  type CertificateRecord,
  type CertificateRepository,
  type CertificateRow as Row,
} from '../../pki/certificate-repository.js';
import type { PostgresDatabase } from './database.js';
import { DatabaseUnavailableError, classify, query, transaction, type PgClient } from './pool.js';

const COLUMNS =
  'serial, device_name, cert_pem, key_pem, spki_sha256, not_before, not_after, revoked_at, created_at';
const UNIQUE_VIOLATION = '23505';

const insertParams = (rec: CertificateRecord) => [
  serialHex(rec.serial),
  rec.deviceName,
  rec.certPem,
  rec.keyPem,
  rec.spkiSha256,
  rec.notBefore,
  rec.notAfter,
  rec.createdAt,
];
const INSERT = `INSERT INTO certificates (serial, device_name, cert_pem, key_pem, spki_sha256, not_before, not_after, created_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`;

export class PostgresCertificateRepository implements CertificateRepository {
  constructor(private readonly db: PostgresDatabase) {}

  async findActive(deviceName: string): Promise<CertificateRecord | undefined> {
    const { rows } = await this.read<Row>(
      `SELECT ${COLUMNS} FROM certificates WHERE device_name = $1 AND revoked_at IS NULL`,
      [deviceName],
    );
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async listForDevice(deviceName: string): Promise<CertificateRecord[]> {
    const { rows } = await this.read<Row>(
      `SELECT ${COLUMNS} FROM certificates WHERE device_name = $1 ORDER BY seq`,
      [deviceName],
    );
    return rows.map(fromRow);
  }

  async insertIfNoActive(rec: CertificateRecord): Promise<CertificateRecord> {
    // The active one can be revoked between our insert and our read: try again then.
    for (let attempt = 0; attempt < 3; attempt++) {
      const inserted = await this.guard(`store certificate ${rec.serial} of device "${rec.deviceName}"`, () =>
        query(
          this.db.pool,
          'store a certificate',
          `${INSERT} ON CONFLICT (device_name) WHERE revoked_at IS NULL DO NOTHING`,
          insertParams(rec),
        ),
      );
      if (inserted.rowCount) return { ...rec, serial: serialHex(rec.serial), revokedAt: null };
      const active = await this.findActive(rec.deviceName);
      if (active) return active;
    }
    throw new PkiError(
      'PkiRepository',
      `device "${rec.deviceName}": the active certificate keeps changing; retry`,
    );
  }

  async replaceActive(expectedSerial: string, rec: CertificateRecord, at: Date): Promise<CertificateRecord> {
    try {
      return await transaction(
        this.db.pool,
        `renew the certificate of device "${rec.deviceName}"`,
        async (client) => {
          const active = await lockActive(client, rec.deviceName);
          if (active && active.serial !== expectedSerial) return active;
          if (active) {
            await client.query('UPDATE certificates SET revoked_at = $1 WHERE serial = $2', [
              at.toISOString(),
              active.serial,
            ]);
          }
          await client.query(INSERT, insertParams(rec));
          return { ...rec, serial: serialHex(rec.serial), revokedAt: null };
        },
      );
    } catch (err) {
      // No active row to lock, and another process inserted one meanwhile: theirs is the answer.
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) {
        const active = await this.findActive(rec.deviceName);
        if (active) return active;
      }
      throw repoError(`store certificate ${rec.serial} of device "${rec.deviceName}"`, err);
    }
  }

  async revokeAllForDevice(deviceName: string, at: Date): Promise<number> {
    const result = await this.guard('revoke certificates', () =>
      query(
        this.db.pool,
        'revoke certificates',
        'UPDATE certificates SET revoked_at = $1 WHERE device_name = $2 AND revoked_at IS NULL',
        [at.toISOString(), deviceName],
      ),
    );
    return result.rowCount ?? 0;
  }

  async isRevoked(serial: string): Promise<boolean> {
    const { rows } = await this.read<{ revoked_at: string | null }>(
      'SELECT revoked_at FROM certificates WHERE serial = $1',
      [serialHex(serial)],
    );
    return rows[0] !== undefined && rows[0].revoked_at !== null;
  }

  async countActive(deviceName: string): Promise<number> {
    const { rows } = await this.read<{ n: string }>(
      'SELECT count(*) AS n FROM certificates WHERE device_name = $1 AND revoked_at IS NULL',
      [deviceName],
    );
    return Number(rows[0]!.n);
  }

  private read<R extends object>(sql: string, params: unknown[]) {
    return this.guard('read certificates', () =>
      query<R & Record<string, unknown>>(this.db.pool, 'read certificates', sql, params),
    );
  }

  private async guard<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw repoError(action, err);
    }
  }
}

async function lockActive(client: PgClient, deviceName: string): Promise<CertificateRecord | undefined> {
  const { rows } = await client.query<Row>(
    `SELECT ${COLUMNS} FROM certificates WHERE device_name = $1 AND revoked_at IS NULL FOR UPDATE`,
    [deviceName],
  );
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/** A lost connection stays DatabaseUnavailable (retryable); anything else is the ledger's error. */
function repoError(action: string, err: unknown): Error {
  const classified = classify(err, action);
  if (classified instanceof DatabaseUnavailableError) return classified;
  if (classified instanceof PkiError) return classified;
  return new PkiError('PkiRepository', `cannot ${action}: ${errorMessage(err)}`, { cause: err });
}
