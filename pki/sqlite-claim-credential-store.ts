/**
 * Claim credentials in SQLite. bind() runs its read, decision and write in one BEGIN
 * IMMEDIATE transaction, so processes sharing the database file see one winner.
 */
import type Database from 'better-sqlite3';
import {
  claimFromRow as fromRow,
  type ClaimBinding,
  type ClaimCredentialStore,
  type ClaimLookup,
  type ClaimRecord,
  type ClaimRow as Row,
  type NewClaimRecord,
} from './claim-credential-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS claim_credentials (
  id             TEXT PRIMARY KEY,
  kind           TEXT NOT NULL CHECK (kind IN ('token', 'certificate')),
  secret_sha256  TEXT UNIQUE,
  serial         TEXT UNIQUE,
  device_name    TEXT,
  created_at     TEXT NOT NULL,
  expires_at     TEXT NOT NULL,
  revoked_at     TEXT,
  used_at        TEXT,
  used_by        TEXT,
  used_spki      TEXT,
  outcome        TEXT CHECK (outcome IN ('enrolled', 'rejected')),
  reason         TEXT
);`;

/**
 * Rows written before serials had one spelling (serialHex) hold a claim certificate's serial
 * without the leading zero nibble of its first byte: written in whole bytes they are found by
 * the lookup again. Idempotent (every hex serial has an even length after it), so it runs at
 * every open. PostgreSQL: migration 008.
 */
const SERIALS_IN_WHOLE_BYTES = `
UPDATE claim_credentials SET serial = '0' || serial
 WHERE serial IS NOT NULL AND length(serial) % 2 = 1 AND serial NOT GLOB '*[^0-9a-f]*';`;

export class SqliteClaimCredentialStore implements ClaimCredentialStore {
  private readonly stmt;
  private readonly bindTx;

  constructor(db: Database.Database) {
    db.exec(SCHEMA);
    db.exec(SERIALS_IN_WHOLE_BYTES);
    this.stmt = {
      insert: db.prepare(
        `INSERT INTO claim_credentials (id, kind, secret_sha256, serial, device_name, created_at, expires_at)
         VALUES (@id, @kind, @secretSha256, @serial, @deviceName, @createdAt, @expiresAt)`,
      ),
      byId: db.prepare<[string], Row>('SELECT * FROM claim_credentials WHERE id = ?'),
      bySecret: db.prepare<[string], Row>('SELECT * FROM claim_credentials WHERE secret_sha256 = ?'),
      bySerial: db.prepare<[string], Row>('SELECT * FROM claim_credentials WHERE serial = ?'),
      list: db.prepare<[], Row>('SELECT * FROM claim_credentials ORDER BY created_at DESC, rowid DESC'),
      revoke: db.prepare('UPDATE claim_credentials SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      bind: db.prepare('UPDATE claim_credentials SET used_at = ?, used_by = ?, used_spki = ? WHERE id = ?'),
      finish: db.prepare(
        'UPDATE claim_credentials SET outcome = ?, reason = ? WHERE id = ? AND (outcome IS NULL OR outcome = ?)',
      ),
    };
    this.bindTx = db.transaction(
      (lookup: ClaimLookup, decide: (record: ClaimRecord | undefined) => ClaimBinding | undefined) => {
        const found = this.findRow(lookup);
        const binding = decide(found && fromRow(found));
        if (!found) throw new Error('decide() accepted a credential that does not exist');
        if (binding) this.stmt.bind.run(binding.usedAt, binding.usedBy, binding.usedSpki, found.id);
        return fromRow(this.stmt.byId.get(found.id)!);
      },
    );
  }

  private findRow(lookup: ClaimLookup): Row | undefined {
    return 'secretSha256' in lookup
      ? this.stmt.bySecret.get(lookup.secretSha256)
      : this.stmt.bySerial.get(lookup.serial);
  }

  async insert(record: NewClaimRecord): Promise<void> {
    this.stmt.insert.run(record);
  }

  async get(id: string): Promise<ClaimRecord | undefined> {
    const row = this.stmt.byId.get(id);
    return row && fromRow(row);
  }

  async find(lookup: ClaimLookup): Promise<ClaimRecord | undefined> {
    const row = this.findRow(lookup);
    return row && fromRow(row);
  }

  async list(): Promise<ClaimRecord[]> {
    return this.stmt.list.all().map(fromRow);
  }

  async revoke(id: string, at: string): Promise<void> {
    this.stmt.revoke.run(at, id);
  }

  async bind(
    lookup: ClaimLookup,
    decide: (record: ClaimRecord | undefined) => ClaimBinding | undefined,
  ): Promise<ClaimRecord> {
    return this.bindTx.immediate(lookup, decide);
  }

  async finish(id: string, outcome: 'enrolled' | 'rejected', reason: string | null): Promise<void> {
    this.stmt.finish.run(outcome, reason, id, outcome);
  }
}
