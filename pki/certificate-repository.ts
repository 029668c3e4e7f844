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
