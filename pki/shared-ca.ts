/**
 * The CAs of a platform whose processes run on several machines (one PostgreSQL): every machine
 * needs a copy of the same `pki/` (docs/postgresql.md). The keys never go into the database, so a
 * machine started without the copy used to make a CA of its own, silently: its hosts signed
 * device certificates the first machine's gateways refuse ("self-signed certificate in
 * certificate chain"), its gateway's certificate was one the other machine's devices refuse, and
 * devices placed across the two machines never connected. The database now records the
 * fingerprint of each CA the first process opened, and a process whose `pki/` holds another CA —
 * or none, when the database has one — refuses to start, saying what to copy.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WasmbedError } from '../common/errors.js';
import { CertificateAuthority, type CertificateAuthorityOptions } from './certificate-authority.js';

/** The fingerprints of the platform's CAs, kept where every machine reads them. */
export interface CaFingerprints {
  /** The fingerprint recorded for the CA `name`, if any. */
  recorded(name: string): Promise<string | undefined>;
  /** Records `sha256` for `name` unless one is recorded already; returns the one recorded. */
  recordIfAbsent(name: string, sha256: string): Promise<string>;
  /**
   * A certificate the platform's CA `name` signed, if the database holds one: before any
   * fingerprint was recorded (a platform from before the record), it tells which CA is the
   * platform's, so the first process to start after the upgrade cannot record a stray one.
   */
  issuedCertificate(name: string): Promise<string | undefined>;
}

export class CaMismatchError extends WasmbedError {
  constructor(message: string) {
    super('CaMismatch', message);
  }
}

/** SHA-256 of the certificate's DER, as `openssl x509 -fingerprint -sha256` shows it. */
export function caFingerprint(certPem: string): string {
  return new crypto.X509Certificate(certPem).fingerprint256;
}

/**
 * Loads the CA in `dir` (creating it only when the database has none recorded under `name`) and
 * checks it is the platform's.
 */
export async function openSharedCa(
  fingerprints: CaFingerprints,
  name: string,
  dir: string,
  options: CertificateAuthorityOptions = {},
): Promise<CertificateAuthority> {
  const recorded = await fingerprints.recorded(name);
  const issued = recorded === undefined ? await fingerprints.issuedCertificate(name) : undefined;
  const certFile = path.join(dir, 'ca.crt');
  if ((recorded !== undefined || issued !== undefined) && !fs.existsSync(certFile)) {
    throw new CaMismatchError(
      `${certFile} does not exist, but this platform's database already has a ${name} CA` +
        `${recorded ? ` (SHA-256 ${recorded})` : ' (it holds certificates the CA signed)'}: ` +
        "copy the pki/ directory (ca.crt, ca.key and claim/) of a machine of this platform into this machine's " +
        "WASMBED_HOME before starting — a new CA here would sign certificates no other machine's gateway or device trusts",
    );
  }
  const ca = await CertificateAuthority.loadOrCreate(dir, options);
  const mine = caFingerprint(ca.certPem);
  if (issued !== undefined && !ca.isIssuerOf(issued)) {
    throw new CaMismatchError(
      `the ${name} CA in ${dir} (SHA-256 ${mine}) did not sign the certificates in this platform's database: ` +
        "replace this machine's pki/ directory with a copy of one from a machine of this platform",
    );
  }
  const platforms = await fingerprints.recordIfAbsent(name, mine);
  if (platforms !== mine) {
    throw new CaMismatchError(
      `the ${name} CA in ${dir} (SHA-256 ${mine}) is not this platform's (SHA-256 ${platforms}, recorded in its ` +
        "database): replace this machine's pki/ directory with a copy of one from a machine of this platform",
    );
  }
  return ca;
}
