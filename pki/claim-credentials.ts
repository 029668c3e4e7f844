/**
 * Claim credentials: what lets a device that has no certificate yet ask for one. Two kinds:
 *
 * - enrollment tokens: 32 random bytes shown once at creation; only their SHA-256 is stored;
 * - claim certificates: client certificates from the separate claim CA (factory-provisioned
 *   boards), recorded by serial. The gateway gives them a claim-only session.
 *
 * Both expire and can be revoked, and both are single-use: the first EnrollmentRequest binds
 * the credential to the device name and public key it asked for, atomically in the store
 * (pki/claim-credential-store.ts). The
 * same device may present it again with the same key (it reconnected while waiting for an
 * operator, or lost the EnrollmentAccepted); anybody else is refused. Once the enrollment is
 * rejected the credential is spent for good.
 */
import crypto from 'node:crypto';
import { NotFoundError, ValidationError } from '../common/errors.js';
import { CLAIM_TTL_SECONDS, DURATION_UNITS } from '../common/schemas.js';
import { validateDnsLabel } from '../common/validation.js';
import type { CertificateAuthority } from './certificate-authority.js';
import { serialHex } from './certificate-info.js';
import type { ClaimCredentialStore, ClaimKind, ClaimLookup, ClaimRecord } from './claim-credential-store.js';

export type { ClaimKind } from './claim-credential-store.js';
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
  constructor(
    private readonly store: ClaimCredentialStore,
    private readonly claimCa: CertificateAuthority,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** A new enrollment token; the token text is returned here and never again. */
  async createToken(input: { name?: unknown; ttl?: unknown } = {}): Promise<{
    id: string;
    token: string;
    expiresAt: string;
    name: string | null;
  }> {
    const deviceName = input.name === undefined ? null : validateDnsLabel('name', input.name);
    const ttl = parseTtl('ttl', input.ttl);
    const token = TOKEN_PREFIX + crypto.randomBytes(32).toString('base64url');
    const id = `tok-${crypto.randomBytes(4).toString('hex')}`;
    const createdAt = this.now();
    const expiresAt = new Date(createdAt.getTime() + ttl * 1000).toISOString();
    await this.store.insert({
      id,
      kind: 'token',
      secretSha256: sha256(token),
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
  async createClaimCertificate(input: { name?: unknown; ttl?: unknown }): Promise<{
    id: string;
    certPem: string;
    keyPem: string;
    expiresAt: string;
    name: string;
  }> {
    const deviceName = validateDnsLabel('name', input.name);
    const ttl = parseTtl('ttl', input.ttl);
    const issued = this.claimCa.issueClientCertificate({
      commonName: deviceName,
      validityDays: ttl / 86_400,
    });
    const id = `clc-${issued.serial.slice(0, 8)}`;
    const expiresAt = issued.notAfter.toISOString();
    await this.store.insert({
      id,
      kind: 'certificate',
      secretSha256: null,
      serial: serialHex(issued.serial),
      deviceName,
      createdAt: this.now().toISOString(),
      expiresAt,
    });
    return { id, certPem: issued.certPem, keyPem: issued.keyPem!, expiresAt, name: deviceName };
  }

  async list(): Promise<ClaimCredential[]> {
    const now = this.now();
    return (await this.store.list()).map((record) => toCredential(record, now));
  }

  async get(id: string): Promise<ClaimCredential> {
    const record = await this.store.get(id);
    if (!record) throw new NotFoundError('ClaimCredential', id);
    return toCredential(record, this.now());
  }

  /** Revokes a credential; revoking twice is harmless. */
  async revoke(id: string): Promise<ClaimCredential> {
    await this.get(id);
    await this.store.revoke(id, this.now().toISOString());
    return this.get(id);
  }

  /**
   * Binds the credential to `device` and its key, or confirms the binding for the same device
   * and key. Throws ClaimRefusedError saying why otherwise. Check and bind are one transaction
   * of the store: two gateways presenting the same token at once see one winner.
   */
  async claim(presented: PresentedClaim, device: string, spkiSha256: string): Promise<ClaimCredential> {
    const lookup: ClaimLookup =
      presented.kind === 'token'
        ? { secretSha256: sha256(presented.token) }
        : { serial: serialHex(presented.serial) };
    const what = presented.kind === 'token' ? 'enrollment token' : 'claim certificate';
    const bound = await this.store.bind(lookup, (row) => {
      if (!row) throw new ClaimRefusedError(`unknown ${what}`);
      if (row.revokedAt) throw new ClaimRefusedError(`${what} ${row.id} was revoked`);
      if (row.outcome === 'rejected')
        throw new ClaimRefusedError(`${what} ${row.id} was rejected: ${row.reason ?? 'no reason given'}`);
      if (row.deviceName && row.deviceName !== device) {
        throw new ClaimRefusedError(`${what} ${row.id} is for device "${row.deviceName}", not "${device}"`);
      }
      if (row.usedAt) {
        if (row.usedBy === device && row.usedSpki === spkiSha256) return undefined;
        // Which device used it is for operators (the credential list), not for whoever holds it.
        throw new ClaimRefusedError(`${what} ${row.id} was already used`);
      }
      if (Date.parse(row.expiresAt) <= this.now().getTime()) {
        throw new ClaimRefusedError(`${what} ${row.id} expired at ${row.expiresAt}`);
      }
      return { usedAt: this.now().toISOString(), usedBy: device, usedSpki: spkiSha256 };
    });
    return toCredential(bound, this.now());
  }

  /** Whether a claim certificate (by serial) is known, unexpired and not revoked or rejected. */
  async isUsableCertificate(serial: string): Promise<boolean> {
    const row = await this.store.find({ serial: serialHex(serial) });
    return (
      row !== undefined &&
      !row.revokedAt &&
      row.outcome !== 'rejected' &&
      Date.parse(row.expiresAt) > this.now().getTime()
    );
  }

  /** Records how the enrollment made with the credential ended (idempotent). */
  finish(id: string, outcome: 'enrolled' | 'rejected', reason?: string): Promise<void> {
    return this.store.finish(id, outcome, reason ?? null);
  }
}

function toCredential(row: ClaimRecord, now: Date): ClaimCredential {
  const state: ClaimState = row.revokedAt
    ? 'Revoked'
    : row.outcome === 'rejected'
      ? 'Rejected'
      : row.outcome === 'enrolled'
        ? 'Enrolled'
        : row.usedAt
          ? 'Bound'
          : Date.parse(row.expiresAt) <= now.getTime()
            ? 'Expired'
            : 'Active';
  return {
    id: row.id,
    kind: row.kind,
    deviceName: row.deviceName,
    state,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    usedAt: row.usedAt,
    usedBy: row.usedBy,
    reason: row.reason,
  };
}
