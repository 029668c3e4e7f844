/**
 * Idempotent device certificate issuance: the "issue certificate" step of provisionDevice.
 * Calling issue() again (a retried activity, a second orchestrator) returns the same
 * certificate for as long as it is good; only a certificate that is revoked, close to expiry,
 * signed by another CA or bound to another key is replaced. Key generation (the slow part)
 * happens outside any database transaction; the store then decides atomically which
 * certificate becomes the device's single active one.
 */
import { ConflictError } from '../common/errors.js';
import { validateDnsLabel } from '../common/validation.js';
import type { CertificateAuthority } from './certificate-authority.js';
import { serialHex, spkiSha256FromPublicKey } from './certificate-info.js';
import type { CertificateRecord, CertificateRepository } from './certificate-repository.js';

export interface DeviceCertificatesOptions {
  /** Validity of newly issued device certificates (default 90 days). */
  validityDays?: number;
  /** A certificate with this little validity left is replaced on the next issue() (default 30). */
  renewBeforeDays?: number;
  /** Clock used for renewal decisions and revocation/creation timestamps (tests). */
  now?: () => Date;
}

export interface IssueOptions {
  /**
   * The device's own public key (PEM, e.g. from an enrollment CSR). The active certificate is
   * kept only if it certifies this key; the new record then has keyPem = null.
   */
  publicKeyPem?: string;
}

/** What DeviceCertificates needs from the CA. */
export type DeviceCertificateIssuer = Pick<CertificateAuthority, 'issueClientCertificate' | 'isIssuerOf'>;

const DAY_MS = 86_400_000;

export class DeviceCertificates {
  readonly validityDays: number;
  readonly renewBeforeDays: number;
  private readonly now: () => Date;

  constructor(
    private readonly ca: DeviceCertificateIssuer,
    private readonly repo: CertificateRepository,
    options: DeviceCertificatesOptions = {},
  ) {
    this.validityDays = options.validityDays ?? 90;
    this.renewBeforeDays = options.renewBeforeDays ?? 30;
    if (!(this.validityDays > 0) || !(this.renewBeforeDays >= 0)) {
      throw new RangeError('validityDays must be > 0 and renewBeforeDays >= 0');
    }
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Returns the device's active certificate, issuing (or renewing) one when needed. Safe to call
   * concurrently from several processes sharing the repository: all get the same record.
   */
  async issue(deviceName: string, opts: IssueOptions = {}): Promise<CertificateRecord> {
    const name = validateDnsLabel('deviceName', deviceName);
    const wantedSpki =
      opts.publicKeyPem === undefined ? undefined : spkiSha256FromPublicKey(opts.publicKeyPem);
    let fresh: CertificateRecord | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const active = await this.repo.findActive(name);
      if (active && this.isGood(active, wantedSpki)) return active;
      fresh ??= this.newRecord(name, opts.publicKeyPem);
      const winner = active
        ? await this.repo.replaceActive(active.serial, fresh, this.now())
        : await this.repo.insertIfNoActive(fresh);
      // Either ours, or another process's that is just as good: return it and drop ours.
      if (winner.serial === fresh.serial || this.isGood(winner, wantedSpki)) return winner;
    }
    throw new ConflictError(`device "${name}" certificate keeps being replaced concurrently; retry later`);
  }

  /** The device's active certificate, if any (no issuance). */
  async findActive(deviceName: string): Promise<CertificateRecord | undefined> {
    return this.repo.findActive(validateDnsLabel('deviceName', deviceName));
  }

  /** Revokes every active certificate of the device; returns how many. */
  async revoke(deviceName: string): Promise<number> {
    return this.repo.revokeAllForDevice(validateDnsLabel('deviceName', deviceName), this.now());
  }

  /** True for a known, revoked serial. Unknown serials are not "revoked": compare with findActive(). */
  async isRevoked(serial: string): Promise<boolean> {
    return this.repo.isRevoked(serialHex(serial));
  }

  /** Still valid for more than renewBeforeDays, signed by the current CA, and for the wanted key. */
  private isGood(rec: CertificateRecord, wantedSpki: string | undefined): boolean {
    const remainingMs = Date.parse(rec.notAfter) - this.now().getTime();
    return (
      rec.revokedAt === null &&
      remainingMs > this.renewBeforeDays * DAY_MS &&
      (wantedSpki === undefined || rec.spkiSha256 === wantedSpki) &&
      this.ca.isIssuerOf(rec.certPem)
    );
  }

  private newRecord(deviceName: string, publicKeyPem: string | undefined): CertificateRecord {
    const issued = this.ca.issueClientCertificate({
      commonName: deviceName,
      validityDays: this.validityDays,
      ...(publicKeyPem === undefined ? {} : { publicKeyPem }),
    });
    return {
      deviceName,
      serial: issued.serial,
      certPem: issued.certPem,
      keyPem: issued.keyPem ?? null,
      spkiSha256: issued.spkiSha256,
      notBefore: issued.notBefore.toISOString(),
      notAfter: issued.notAfter.toISOString(),
      revokedAt: null,
      createdAt: this.now().toISOString(),
    };
  }
}
