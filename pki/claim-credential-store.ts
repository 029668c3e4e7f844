/**
 * Where claim credentials are kept (pki/claim-credentials.ts holds the rules). Every backend
 * must make bind() atomic: two gateways presenting the same token at once see one winner.
 * SQLite: pki/sqlite-claim-credential-store.ts.
 */
export type ClaimKind = 'token' | 'certificate';

/** One stored credential. Timestamps are ISO-8601. */
export interface ClaimRecord {
  id: string;
  kind: ClaimKind;
  /** SHA-256 of an enrollment token's text (tokens only; the text itself is never stored). */
  secretSha256: string | null;
  /** A claim certificate's serial, normalized (certificates only). */
  serial: string | null;
  deviceName: string | null;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  usedAt: string | null;
  usedBy: string | null;
  usedSpki: string | null;
  outcome: 'enrolled' | 'rejected' | null;
  reason: string | null;
}

export type NewClaimRecord = Pick<
  ClaimRecord,
  'id' | 'kind' | 'secretSha256' | 'serial' | 'deviceName' | 'createdAt' | 'expiresAt'
>;

/** How a presented credential is found: a token by its hash, a claim certificate by serial. */
export type ClaimLookup = { secretSha256: string } | { serial: string };

/** What bind() writes when the decision says to bind. */
export interface ClaimBinding {
  usedAt: string;
  usedBy: string;
  usedSpki: string;
}

export interface ClaimCredentialStore {
  insert(record: NewClaimRecord): Promise<void>;
  get(id: string): Promise<ClaimRecord | undefined>;
  find(lookup: ClaimLookup): Promise<ClaimRecord | undefined>;
  /** Newest first. */
  list(): Promise<ClaimRecord[]>;
  /** Sets revokedAt unless already revoked. */
  revoke(id: string, at: string): Promise<void>;
  /**
   * In one transaction: reads the record `lookup` finds, passes it to `decide` (synchronous;
   * it throws to refuse), writes the binding `decide` returns (none: leave the record as it
   * is), and returns the record as it then is.
   */
  bind(
    lookup: ClaimLookup,
    decide: (record: ClaimRecord | undefined) => ClaimBinding | undefined,
  ): Promise<ClaimRecord>;
  /** Records the outcome unless a different one is already recorded. */
  finish(id: string, outcome: 'enrolled' | 'rejected', reason: string | null): Promise<void>;
}

/** A claim row as both SQL backends store it (snake_case columns). */
export interface ClaimRow {
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

export function claimFromRow(row: ClaimRow): ClaimRecord {
  return {
    id: row.id,
    kind: row.kind,
    secretSha256: row.secret_sha256,
    serial: row.serial,
    deviceName: row.device_name,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    usedAt: row.used_at,
    usedBy: row.used_by,
    usedSpki: row.used_spki,
    outcome: row.outcome,
    reason: row.reason,
  };
}
