/**
 * Claim credentials: what lets a device that has no certificate yet ask for one. Two kinds:
 *
 * - enrollment tokens: 32 random bytes shown once at creation; only their SHA-256 is stored;
 * - claim certificates: client certificates from the separate claim CA (factory-provisioned
 *   boards), recorded by serial. The gateway gives them a claim-only session.
 *
 * Both expire and can be revoked, and both are single-use: the first EnrollmentRequest binds
 * the credential to the device name and public key it asked for, atomically in SQLite. The
 * same device may present it again with the same key (it reconnected while waiting for an
 * operator, or lost the EnrollmentAccepted); anybody else is refused. Once the enrollment is
 * rejected the credential is spent for good.
 */
import crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import { NotFoundError, ValidationError } from '../common/errors.js';
import { CLAIM_TTL_SECONDS, DURATION_UNITS } from '../common/schemas.js';
import { validateDnsLabel } from '../common/validation.js';
import type { CertificateAuthority } from './certificate-authority.js';
import { normalizeSerial } from './certificate-info.js';

export type ClaimKind = 'token' | 'certificate';
export const CLAIM_STATES = ['Active', 'Bound', 'Enrolled', 'Rejected', 'Expired', 'Revoked'] as const;
export type ClaimState = (typeof CLAIM_STATES)[number];

export interface ClaimCredential {
  id: string;
  kind: ClaimKind;
  /** The only device name this credential may enroll, when it is restricted to one. */
  deviceName: string | null;
  state: ClaimState;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  usedAt: string | null;
  usedBy: string | null;
  /** Why the enrollment made with it was rejected. */
  reason: string | null;
}

/** Who is presenting the credential: a token's text, or a verified claim certificate's serial. */
export type PresentedClaim = { kind: 'token'; token: string } | { kind: 'certificate'; serial: string };

export class ClaimRefusedError extends Error {
  readonly code = 'ClaimRefused';
}

/** Token lifetime bounds: at least a minute for a person to type it, at most 30 days. */
const { min: MIN_TTL_SECONDS, max: MAX_TTL_SECONDS, default: DEFAULT_TTL_SECONDS } = CLAIM_TTL_SECONDS;
const TOKEN_PREFIX = 'wbt_';

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

interface Row {
  id: string;
  kind: ClaimKind;
  secret_sha256: string | null;
  serial: string | null;
  device_name: string | null;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  used_at: string | null;
  used_by: string | null;
  used_spki: string | null;
  outcome: 'enrolled' | 'rejected' | null;
  reason: string | null;
}

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

/** `ttl` as seconds (number) or `30s`, `15m`, `24h`, `7d`. */
export function parseTtl(field: string, ttl: unknown): number {
  if (ttl === undefined) return DEFAULT_TTL_SECONDS;
  let seconds: number | undefined;
  if (typeof ttl === 'number' && Number.isInteger(ttl)) seconds = ttl;
  else if (typeof ttl === 'string') {
    const m = /^(\d+)\s*([smhd]?)$/.exec(ttl.trim());
    if (m) seconds = Number(m[1]) * DURATION_UNITS[m[2] as keyof typeof DURATION_UNITS];
  }
  if (seconds === undefined || seconds < MIN_TTL_SECONDS || seconds > MAX_TTL_SECONDS) {
    throw new ValidationError(
      field,
      `${field} must be seconds or a duration like 30m, 24h or 7d, between ${MIN_TTL_SECONDS} s and ${MAX_TTL_SECONDS / 86_400} days`,
    );
  }
  return seconds;
}

export class ClaimCredentials {
  private readonly stmt;
  private readonly bindTx;

  constructor(
    db: Database.Database,
    private readonly claimCa: CertificateAuthority,
    private readonly now: () => Date = () => new Date(),
  ) {
    db.exec(SCHEMA);
    this.stmt = {
      insert: db.prepare(
        `INSERT INTO claim_credentials (id, kind, secret_sha256, serial, device_name, created_at, expires_at)
         VALUES (@id, @kind, @secret, @serial, @deviceName, @createdAt, @expiresAt)`,
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
    // Check-and-bind in one transaction: two gateways presented the same token at once see
    // one winner.
    this.bindTx = db.transaction((presented: PresentedClaim, device: string, spkiSha256: string) => {
      const row =
        presented.kind === 'token'
          ? this.stmt.bySecret.get(sha256(presented.token))
          : this.stmt.bySerial.get(normalizeSerial(presented.serial));
      const what = presented.kind === 'token' ? 'enrollment token' : 'claim certificate';
      if (!row) throw new ClaimRefusedError(`unknown ${what}`);
      if (row.revoked_at) throw new ClaimRefusedError(`${what} ${row.id} was revoked`);
      if (row.outcome === 'rejected')
        throw new ClaimRefusedError(`${what} ${row.id} was rejected: ${row.reason ?? 'no reason given'}`);
      if (row.device_name && row.device_name !== device) {
        throw new ClaimRefusedError(`${what} ${row.id} is for device "${row.device_name}", not "${device}"`);
      }
      if (row.used_at) {
        if (row.used_by === device && row.used_spki === spkiSha256) return toCredential(row, this.now());
        // Which device used it is for operators (the credential list), not for whoever holds it.
        throw new ClaimRefusedError(`${what} ${row.id} was already used`);
      }
      if (Date.parse(row.expires_at) <= this.now().getTime()) {
        throw new ClaimRefusedError(`${what} ${row.id} expired at ${row.expires_at}`);
      }
      this.stmt.bind.run(this.now().toISOString(), device, spkiSha256, row.id);
      return toCredential(this.stmt.byId.get(row.id)!, this.now());
    });
  }

  /** A new enrollment token; the token text is returned here and never again. */
  createToken(input: { name?: unknown; ttl?: unknown } = {}): {
    id: string;
    token: string;
    expiresAt: string;
    name: string | null;
  } {
    const deviceName = input.name === undefined ? null : validateDnsLabel('name', input.name);
    const ttl = parseTtl('ttl', input.ttl);
    const token = TOKEN_PREFIX + crypto.randomBytes(32).toString('base64url');
    const id = `tok-${crypto.randomBytes(4).toString('hex')}`;
    const createdAt = this.now();
    const expiresAt = new Date(createdAt.getTime() + ttl * 1000).toISOString();
    this.stmt.insert.run({
      id,
      kind: 'token',
      secret: sha256(token),
      serial: null,
      deviceName,
      createdAt: createdAt.toISOString(),
      expiresAt,
    });
    return { id, token, expiresAt, name: deviceName };
  }

  /**
   * A claim certificate for one device name, from the claim CA, with a key generated here and
   * returned once (it is the board's claim key, not its device key; the platform keeps no copy).
   */
  createClaimCertificate(input: { name?: unknown; ttl?: unknown }): {
    id: string;
    certPem: string;
    keyPem: string;
    expiresAt: string;
    name: string;
  } {
    const deviceName = validateDnsLabel('name', input.name);
    const ttl = parseTtl('ttl', input.ttl);
    const issued = this.claimCa.issueClientCertificate({
      commonName: deviceName,
      validityDays: ttl / 86_400,
    });
    const id = `clc-${issued.serial.slice(0, 8)}`;
    const expiresAt = issued.notAfter.toISOString();
    this.stmt.insert.run({
      id,
      kind: 'certificate',
      secret: null,
      serial: normalizeSerial(issued.serial),
      deviceName,
      createdAt: this.now().toISOString(),
      expiresAt,
    });
    return { id, certPem: issued.certPem, keyPem: issued.keyPem!, expiresAt, name: deviceName };
  }

  list(): ClaimCredential[] {
    const now = this.now();
    return this.stmt.list.all().map((row) => toCredential(row, now));
  }

  get(id: string): ClaimCredential {
    const row = this.stmt.byId.get(id);
    if (!row) throw new NotFoundError('ClaimCredential', id);
    return toCredential(row, this.now());
  }

  /** Revokes a credential; revoking twice is harmless. */
  revoke(id: string): ClaimCredential {
    this.get(id);
    this.stmt.revoke.run(this.now().toISOString(), id);
    return this.get(id);
  }

  /**
   * Binds the credential to `device` and its key, or confirms the binding for the same device
   * and key. Throws ClaimRefusedError saying why otherwise.
   */
  claim(presented: PresentedClaim, device: string, spkiSha256: string): ClaimCredential {
    return this.bindTx.immediate(presented, device, spkiSha256);
  }

  /** Whether a claim certificate (by serial) is known, unexpired and not revoked or rejected. */
  isUsableCertificate(serial: string): boolean {
    const row = this.stmt.bySerial.get(normalizeSerial(serial));
    return (
      row !== undefined &&
      !row.revoked_at &&
      row.outcome !== 'rejected' &&
      Date.parse(row.expires_at) > this.now().getTime()
    );
  }

  /** Records how the enrollment made with the credential ended (idempotent). */
  finish(id: string, outcome: 'enrolled' | 'rejected', reason?: string): void {
    this.stmt.finish.run(outcome, reason ?? null, id, outcome);
  }
}

function toCredential(row: Row, now: Date): ClaimCredential {
  const state: ClaimState = row.revoked_at
    ? 'Revoked'
    : row.outcome === 'rejected'
      ? 'Rejected'
      : row.outcome === 'enrolled'
        ? 'Enrolled'
        : row.used_at
          ? 'Bound'
          : Date.parse(row.expires_at) <= now.getTime()
            ? 'Expired'
            : 'Active';
  return {
    id: row.id,
    kind: row.kind,
    deviceName: row.device_name,
    state,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    usedAt: row.used_at,
    usedBy: row.used_by,
    reason: row.reason,
  };
}
