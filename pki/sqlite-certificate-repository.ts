/**
 * Device certificates in SQLite. A partial UNIQUE index makes "at most one non-revoked
 * certificate per device" a database invariant, and every check-then-write runs in a
 * BEGIN IMMEDIATE transaction, so processes sharing one database file (WAL mode, with a
 * busy_timeout set by whoever opened it) can never create two active certificates.
 *
 * Private keys of CA-generated device keys are stored in `key_pem` in clear text: protect the
 * database file like ca.key (mode 0600, private data directory).
 */
import type Database from 'better-sqlite3';
import { serialHex } from './certificate-info.js';
import { PkiError } from './errors.js';
import { errorMessage } from '../common/errors.js';
import {
  certificateFromRow as fromRow,
  type CertificateRecord,
  type CertificateRepository,
  type CertificateRow as Row,
} from './certificate-repository.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS certificates (
  serial       TEXT PRIMARY KEY,
  device_name  TEXT NOT NULL,
  cert_pem     TEXT NOT NULL,
  key_pem      TEXT,
  spki_sha256  TEXT NOT NULL,
  not_before   TEXT NOT NULL,
  not_after    TEXT NOT NULL,
  revoked_at   TEXT,
  created_at   TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS certificates_one_active_per_device
  ON certificates (device_name) WHERE revoked_at IS NULL;
CREATE INDEX IF NOT EXISTS certificates_by_device ON certificates (device_name, created_at);
`;

export class SqliteCertificateRepository implements CertificateRepository {
  private readonly stmt;
  private readonly insertIfNoActiveTx;
  private readonly replaceActiveTx;

  constructor(private readonly db: Database.Database) {
    try {
      db.exec(SCHEMA);
    } catch (err) {
      throw repoError('create the certificates table', err);
    }
    this.stmt = {
      findActive: db.prepare<[string], Row>(
        'SELECT * FROM certificates WHERE device_name = ? AND revoked_at IS NULL',
      ),
      list: db.prepare<[string], Row>(
        'SELECT * FROM certificates WHERE device_name = ? ORDER BY created_at, rowid',
      ),
      insert: db.prepare(
        `INSERT INTO certificates
           (serial, device_name, cert_pem, key_pem, spki_sha256, not_before, not_after, revoked_at, created_at)
         VALUES
           (@serial, @deviceName, @certPem, @keyPem, @spkiSha256, @notBefore, @notAfter, @revokedAt, @createdAt)`,
      ),
      revokeAll: db.prepare(
        'UPDATE certificates SET revoked_at = ? WHERE device_name = ? AND revoked_at IS NULL',
      ),
      revokeSerial: db.prepare(
        'UPDATE certificates SET revoked_at = ? WHERE serial = ? AND revoked_at IS NULL',
      ),
      revokedAt: db.prepare<[string], { revoked_at: string | null }>(
        'SELECT revoked_at FROM certificates WHERE serial = ?',
      ),
      countActive: db.prepare<[string], { n: number }>(
        'SELECT COUNT(*) AS n FROM certificates WHERE device_name = ? AND revoked_at IS NULL',
      ),
    };
    this.insertIfNoActiveTx = db.transaction((rec: CertificateRecord): CertificateRecord => {
      const active = this.findActiveRow(rec.deviceName);
      if (active) return active;
      this.stmt.insert.run(toParams(rec, null));
      return { ...rec, revokedAt: null };
    });
    this.replaceActiveTx = db.transaction(
      (expectedSerial: string, rec: CertificateRecord, at: string): CertificateRecord => {
        const active = this.findActiveRow(rec.deviceName);
        if (active && active.serial !== expectedSerial) return active;
        if (active) this.stmt.revokeSerial.run(at, active.serial);
        this.stmt.insert.run(toParams(rec, null));
        return { ...rec, revokedAt: null };
      },
    );
  }

  async findActive(deviceName: string): Promise<CertificateRecord | undefined> {
    return this.guard('read', () => this.findActiveRow(deviceName));
  }

  async listForDevice(deviceName: string): Promise<CertificateRecord[]> {
    return this.guard('read', () => this.stmt.list.all(deviceName).map(fromRow));
  }

  async insertIfNoActive(rec: CertificateRecord): Promise<CertificateRecord> {
    return this.guardActiveRace(rec, () => this.insertIfNoActiveTx.immediate(rec));
  }

  async replaceActive(expectedSerial: string, rec: CertificateRecord, at: Date): Promise<CertificateRecord> {
    return this.guardActiveRace(rec, () =>
      this.replaceActiveTx.immediate(expectedSerial, rec, at.toISOString()),
    );
  }

  async revokeAllForDevice(deviceName: string, at: Date): Promise<number> {
    return this.guard('revoke', () => this.stmt.revokeAll.run(at.toISOString(), deviceName).changes);
  }

  async isRevoked(serial: string): Promise<boolean> {
    return this.guard('read', () => {
      const row = this.stmt.revokedAt.get(serialHex(serial));
      return row !== undefined && row.revoked_at !== null;
    });
  }

  async countActive(deviceName: string): Promise<number> {
    return this.guard('read', () => this.stmt.countActive.get(deviceName)?.n ?? 0);
  }

  private findActiveRow(deviceName: string): CertificateRecord | undefined {
    const row = this.stmt.findActive.get(deviceName);
    return row ? fromRow(row) : undefined;
  }

  /**
   * Inside BEGIN IMMEDIATE the unique index cannot fire, but if the caller wrapped us in its own
   * deferred transaction it can: then the other writer's record is the answer, not an error.
   */
  private guardActiveRace(rec: CertificateRecord, fn: () => CertificateRecord): CertificateRecord {
    try {
      return fn();
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        const active = this.findActiveRow(rec.deviceName);
        if (active) return active;
      }
      throw repoError(`store certificate ${rec.serial} of device "${rec.deviceName}"`, err);
    }
  }

  private guard<T>(action: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw repoError(`${action} certificates`, err);
    }
  }
}

function toParams(rec: CertificateRecord, revokedAt: string | null): Record<string, string | null> {
  return {
    serial: serialHex(rec.serial),
    deviceName: rec.deviceName,
    certPem: rec.certPem,
    keyPem: rec.keyPem,
    spkiSha256: rec.spkiSha256,
    notBefore: rec.notBefore,
    notAfter: rec.notAfter,
    revokedAt,
    createdAt: rec.createdAt,
  };
}

function repoError(action: string, err: unknown): PkiError {
  return new PkiError('PkiRepository', `cannot ${action}: ${errorMessage(err)}`, { cause: err });
}
