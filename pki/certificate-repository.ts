/**
 * The device certificate ledger, as DeviceCertificates needs it. The rule every backend must
 * enforce itself (not leave to callers): at most one non-revoked certificate per device, even
 * with several processes issuing at once. SQLite: pki/sqlite-certificate-repository.ts.
 */
export interface CertificateRecord {
  deviceName: string;
  /** Lowercase hex. */
  serial: string;
  certPem: string;
  /** PKCS#8 PEM when the platform generated the key; null when the device holds its own key. */
  keyPem: string | null;
  spkiSha256: string;
  /** ISO-8601 timestamps. */
  notBefore: string;
  notAfter: string;
  revokedAt: string | null;
  createdAt: string;
}

export interface CertificateRepository {
  findActive(deviceName: string): Promise<CertificateRecord | undefined>;
  /** Oldest first. */
  listForDevice(deviceName: string): Promise<CertificateRecord[]>;
  /** Atomically: returns the device's active record if there is one, else inserts `rec` and returns it. */
  insertIfNoActive(rec: CertificateRecord): Promise<CertificateRecord>;
  /**
   * Atomic renewal: if the active record is still `expectedSerial` (or there is none), revokes it
   * at `at` and inserts `rec`, returning `rec`; if someone else already replaced it, changes
   * nothing and returns their active record.
   */
  replaceActive(expectedSerial: string, rec: CertificateRecord, at: Date): Promise<CertificateRecord>;
  /** Revokes every active certificate of the device; returns how many. */
  revokeAllForDevice(deviceName: string, at: Date): Promise<number>;
  /** True only for a known serial that has been revoked. */
  isRevoked(serial: string): Promise<boolean>;
  countActive(deviceName: string): Promise<number>;
}

/** A ledger row as both SQL backends store it (snake_case columns). */
export interface CertificateRow {
  serial: string;
  device_name: string;
  cert_pem: string;
  key_pem: string | null;
  spki_sha256: string;
  not_before: string;
  not_after: string;
  revoked_at: string | null;
  created_at: string;
}

export function certificateFromRow(row: CertificateRow): CertificateRecord {
  return {
    deviceName: row.device_name,
    serial: row.serial,
    certPem: row.cert_pem,
    keyPem: row.key_pem,
    spkiSha256: row.spki_sha256,
    notBefore: row.not_before,
    notAfter: row.not_after,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
  };
}
