/**
 * The platform's device CA: a persistent RSA-2048 root that signs the gateways' server
 * certificates and the devices' client certificates (CN = device name).
 *
 * Certificates are assembled here as DER (ASN.1 pieces encoded with node-forge) and signed with
 * Node's crypto (OpenSSL). forge's own certificate object is not used because it can only carry
 * RSA subject keys (a device enrolling with an EC P-256 CSR must work too) and signs in pure
 * JavaScript. Key pairs come from Node's native generator (`crypto.generateKeyPair*`), which is
 * what forge itself would call; calling it directly skips forge's PEM round trip and cannot fall
 * back to forge's ~2 s pure-JavaScript generator.
 *
 * On disk: `<dir>/ca.crt` (0644) and `<dir>/ca.key` (0600, PKCS#8 PEM), `<dir>` created 0700.
 * Creation is race-free across processes: each file is written to a private temp file and
 * published with link(2), which fails if the target exists, so exactly one key wins; ca.key is
 * published before ca.crt and whoever finds a key without a certificate (a concurrent creator,
 * or one that crashed between the two links) completes it from that same key.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import forge from 'node-forge';
import { ValidationError } from '../common/errors.js';
import {
  commonNameOf,
  errorText,
  keyIdentifierFromSpki,
  parseCertificateDer,
  readTlv,
  sha256Hex,
  spkiDerOf,
} from './certificate-info.js';
import { distinguishedName, extension, oid, seq, tlv } from './der.js';
import { PkiError } from './errors.js';

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';
export const DEFAULT_CA_COMMON_NAME = 'Wasmbed Device CA';
export const DEFAULT_CA_VALIDITY_DAYS = 3650;
export const DEFAULT_SERVER_VALIDITY_DAYS = 365;
export const DEFAULT_CLIENT_VALIDITY_DAYS = 90;
/** notBefore is backdated by this much so a device with a slightly slow clock accepts the cert. */
export const CLOCK_SKEW_MS = 5 * 60_000;
const RSA_BITS = 2048;
const DAY_MS = 86_400_000;
const MAX_VALIDITY_DAYS = 100 * 365;

export interface CertificateAuthorityOptions {
  /** Subject CN of a newly created CA (ignored when the CA already exists). */
  commonName?: string;
  /** Validity of a newly created CA, in days (default 3650). */
  validityDays?: number;
}

export interface IssuedCertificate {
  certPem: string;
  /** PKCS#8 PEM private key; only when the CA generated the key pair. */
  keyPem?: string;
  /** Lowercase hex, positive, 16 bytes (32 hex digits). */
  serial: string;
  /** Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo. */
  spkiSha256: string;
  notBefore: Date;
  notAfter: Date;
  commonName: string;
}

export interface ServerCertificateRequest {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** Default 365. Clamped to the CA's own expiry. */
  validityDays?: number;
}

export interface ClientCertificateRequest {
  /** The device name. */
  commonName: string;
  /** SPKI ("PUBLIC KEY") or PKCS#1 PEM public key (e.g. from a CSR): RSA >= 2048 bits, EC P-256 or P-384. */
  publicKeyPem?: string;
  /** Default 90. Clamped to the CA's own expiry. */
  validityDays?: number;
}

const OID = {
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** keyUsage bit numbers (RFC 5280 §4.2.1.3). */
const KU = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

export class CertificateAuthority {
  /** PEM of the CA certificate: what gateways and devices trust. */
  readonly certPem: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly commonName: string;
  readonly serial: string;
  readonly spkiSha256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;

  private readonly x509: crypto.X509Certificate;
  private readonly key: crypto.KeyObject;
  private readonly subjectDer: Buffer;
  private readonly keyId: Buffer;

  private constructor(
    certPath: string,
    keyPath: string,
    x509: crypto.X509Certificate,
    key: crypto.KeyObject,
  ) {
    const parts = parseCertificateDer(x509.raw);
    this.certPath = certPath;
    this.keyPath = keyPath;
    this.x509 = x509;
    this.key = key;
    this.certPem = x509.toString();
    this.subjectDer = parts.subject;
    this.serial = x509.serialNumber.toLowerCase();
    this.spkiSha256 = sha256Hex(parts.spki);
    this.notBefore = parts.notBefore;
    this.notAfter = parts.notAfter;
    this.commonName = commonNameOf(parts.subject) ?? '';
    // AKI of issued certificates must equal this CA's SKI; compute one only if the CA lacks it.
    const ski = parts.extensions.get(OID.subjectKeyIdentifier);
    this.keyId = ski ? octetStringContents(ski) : keyIdentifierFromSpki(parts.spki);
  }

  /**
   * Loads the CA from `dir`, creating it on first use. Safe to call concurrently from several
   * processes on the same fresh directory: all of them end up with the same CA. Never replaces
   * an existing CA: unreadable, corrupt or mismatched files raise a PkiError naming the file.
   */
  static async loadOrCreate(
    dir: string,
    opts: CertificateAuthorityOptions = {},
  ): Promise<CertificateAuthority> {
    const commonName = validateCommonName('commonName', opts.commonName ?? DEFAULT_CA_COMMON_NAME);
    const validityDays = validateValidityDays('validityDays', opts.validityDays ?? DEFAULT_CA_VALIDITY_DAYS);
    const root = path.resolve(dir);
    ensurePrivateDir(root);
    const certPath = path.join(root, CA_CERT_FILE);
    const keyPath = path.join(root, CA_KEY_FILE);

    for (let attempt = 0; attempt < 5; attempt++) {
      const certExists = fileExists(certPath);
      const keyExists = fileExists(keyPath);
      if (certExists && keyExists) return CertificateAuthority.loadFiles(certPath, keyPath);
      if (certExists) throw keyMissing(certPath, keyPath);
      if (!keyExists) {
        const key = await generateRsaKey();
        const keyPem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
        // false: another process published its key first; adopt it on the next pass.
        if (!publishExclusive(keyPath, keyPem, 0o600)) continue;
      }
      // ca.key exists without ca.crt: ours, a concurrent creator's, or one that crashed between the
      // two links. No certificate was ever published for it, so completing it is not a replacement.
      const key = readPrivateKey(keyPath);
      const certDer = buildSelfSignedCa(key, commonName, validityDays);
      publishExclusive(certPath, derToPem(certDer), 0o644); // EEXIST: someone else completed it
    }
    throw new PkiError('PkiStorage', `could not create or load the CA in ${root}: files keep changing`, {
      file: root,
    });
  }

  /** Loads an existing CA; never creates one. */
  static async load(dir: string): Promise<CertificateAuthority> {
    const root = path.resolve(dir);
    const certPath = path.join(root, CA_CERT_FILE);
    const keyPath = path.join(root, CA_KEY_FILE);
    if (!fileExists(certPath)) {
      throw new PkiError('PkiStorage', `CA certificate ${certPath} does not exist`, { file: certPath });
    }
    if (!fileExists(keyPath)) throw keyMissing(certPath, keyPath);
    return CertificateAuthority.loadFiles(certPath, keyPath);
  }

  private static loadFiles(certPath: string, keyPath: string): CertificateAuthority {
    const certText = readText(certPath);
    let x509: crypto.X509Certificate;
    try {
      x509 = new crypto.X509Certificate(certText);
    } catch (err) {
      throw corrupt(certPath, `CA certificate ${certPath} is not a valid PEM certificate`, err);
    }
    if (!x509.ca) {
      throw corrupt(
        certPath,
        `CA certificate ${certPath} is not a CA certificate (basicConstraints CA:FALSE)`,
      );
    }
    if (x509.subject === x509.issuer && !x509.verify(x509.publicKey)) {
      throw corrupt(certPath, `CA certificate ${certPath} has an invalid self-signature`);
    }
    const key = readPrivateKey(keyPath);
    if (!x509.checkPrivateKey(key)) {
      throw corrupt(keyPath, `CA key ${keyPath} does not match CA certificate ${certPath}`);
    }
    try {
      return new CertificateAuthority(certPath, keyPath, x509, key);
    } catch (err) {
      throw corrupt(certPath, `CA certificate ${certPath} cannot be used: ${errorText(err)}`, err);
    }
  }

  /** A TLS server certificate (gateway): serverAuth, with the given DNS and IP SANs. */
  issueServerCertificate(req: ServerCertificateRequest): IssuedCertificate {
    const commonName = validateCommonName('commonName', req.commonName);
    const validityDays = validateValidityDays(
      'validityDays',
      req.validityDays ?? DEFAULT_SERVER_VALIDITY_DAYS,
    );
    const dnsNames = (req.dnsNames ?? []).map((n, i) => validateDnsName(`dnsNames[${i}]`, n));
    const ips = (req.ipAddresses ?? []).map((ip, i) => ipBytes(`ipAddresses[${i}]`, ip));
    if (dnsNames.length === 0 && ips.length === 0) {
      throw new ValidationError('dnsNames', 'a server certificate needs at least one DNS name or IP address');
    }
    const key = generateRsaKeySync();
    const san = seq(
      ...dnsNames.map((n) => tlv(0x82, Buffer.from(n, 'ascii'))),
      ...ips.map((b) => tlv(0x87, b)),
    );
    const issued = this.sign(commonName, spkiDerOf(key), validityDays, [
      extension(OID.keyUsage, true, keyUsage([KU.digitalSignature, KU.keyEncipherment])),
      extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
      extension(OID.subjectAltName, false, san),
    ]);
    return { ...issued, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
  }

  /**
   * A TLS client certificate (device): clientAuth, CN = device name. Generates an RSA-2048 key
   * pair (returned as keyPem) unless `publicKeyPem` is given, in which case no key is returned.
   */
  issueClientCertificate(req: ClientCertificateRequest): IssuedCertificate {
    const commonName = validateCommonName('commonName', req.commonName);
    const validityDays = validateValidityDays(
      'validityDays',
      req.validityDays ?? DEFAULT_CLIENT_VALIDITY_DAYS,
    );
    const exts = [
      extension(OID.keyUsage, true, keyUsage([KU.digitalSignature])),
      extension(OID.extKeyUsage, false, seq(oid(OID.clientAuth))),
    ];
    if (req.publicKeyPem !== undefined) {
      return this.sign(
        commonName,
        validateDevicePublicKey('publicKeyPem', req.publicKeyPem),
        validityDays,
        exts,
      );
    }
    const key = generateRsaKeySync();
    const issued = this.sign(commonName, spkiDerOf(key), validityDays, exts);
    return { ...issued, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
  }

  /** True when `certPem` parses and was signed by this CA (issuer name and signature). */
  isIssuerOf(certPem: string): boolean {
    try {
      const cert = new crypto.X509Certificate(certPem);
      return cert.checkIssued(this.x509) && cert.verify(this.x509.publicKey);
    } catch {
      return false;
    }
  }

  private sign(commonName: string, spki: Buffer, validityDays: number, exts: Buffer[]): IssuedCertificate {
    const now = Date.now();
    if (now >= this.notAfter.getTime()) {
      throw new PkiError(
        'PkiCaExpired',
        `CA certificate ${this.certPath} expired on ${this.notAfter.toISOString()}`,
        {
          file: this.certPath,
        },
      );
    }
    const notBefore = new Date(Math.max(floorToSecond(now - CLOCK_SKEW_MS), this.notBefore.getTime()));
    const notAfter = new Date(Math.min(floorToSecond(now + validityDays * DAY_MS), this.notAfter.getTime()));
    const serial = randomSerial();
    const der = buildCertificate(this.key, {
      serial,
      issuer: this.subjectDer,
      subject: distinguishedName([[OID.commonName, commonName]]),
      notBefore,
      notAfter,
      spki,
      extensions: [
        extension(OID.basicConstraints, true, seq()),
        ...exts,
        extension(OID.subjectKeyIdentifier, false, tlv(0x04, keyIdentifierFromSpki(spki))),
        extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, this.keyId))),
      ],
    });
    return {
      certPem: derToPem(der),
      serial: serial.toString('hex'),
      spkiSha256: sha256Hex(spki),
      notBefore,
      notAfter,
      commonName,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Certificate assembly

interface TbsFields {
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: Buffer[];
}

function buildSelfSignedCa(key: crypto.KeyObject, commonName: string, validityDays: number): Buffer {
  const now = Date.now();
  const spki = spkiDerOf(key);
  const keyId = keyIdentifierFromSpki(spki);
  const name = distinguishedName([
    [OID.organizationName, 'Wasmbed'],
    [OID.commonName, commonName],
  ]);
  return buildCertificate(key, {
    serial: randomSerial(),
    issuer: name,
    subject: name,
    notBefore: new Date(floorToSecond(now - CLOCK_SKEW_MS)),
    notAfter: new Date(floorToSecond(now + validityDays * DAY_MS)),
    spki,
    extensions: [
      extension(OID.basicConstraints, true, seq(tlv(0x01, Buffer.from([0xff])), tlv(0x02, Buffer.from([0])))),
      extension(OID.keyUsage, true, keyUsage([KU.keyCertSign, KU.cRLSign])),
      extension(OID.subjectKeyIdentifier, false, tlv(0x04, keyId)),
      extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, keyId))),
    ],
  });
}

/** DER Certificate: TBSCertificate (v3) signed sha256WithRSAEncryption by `signingKey`. */
function buildCertificate(signingKey: crypto.KeyObject, f: TbsFields): Buffer {
  const signatureAlgorithm = seq(oid(OID.sha256WithRSAEncryption), tlv(0x05));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // version v3
    tlv(0x02, f.serial),
    signatureAlgorithm,
    f.issuer,
    seq(asn1Time(f.notBefore), asn1Time(f.notAfter)),
    f.subject,
    f.spki,
    tlv(0xa3, seq(...f.extensions)),
  );
  const signature = crypto.sign('sha256', tbs, signingKey);
  const der = seq(tbs, signatureAlgorithm, tlv(0x03, Buffer.from([0]), signature));
  // Cheap self-check: OpenSSL must parse what we assembled.
  new crypto.X509Certificate(der);
  return der;
}

/** keyUsage BIT STRING with the given named bits set, in DER (trailing zero bits dropped). */
function keyUsage(bits: number[]): Buffer {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc((highest >> 3) + 1);
  for (const bit of bits) bytes.writeUInt8(bytes.readUInt8(bit >> 3) | (0x80 >> (bit & 7)), bit >> 3);
  return tlv(0x03, Buffer.from([7 - (highest & 7)]), bytes);
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
function asn1Time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(forge.asn1.dateToUtcTime(date), 'latin1'))
    : tlv(0x18, Buffer.from(forge.asn1.dateToGeneralizedTime(date), 'latin1'));
}

/** 16 random bytes, top bit clear (positive INTEGER) and first byte non-zero (minimal DER). */
function randomSerial(): Buffer {
  for (;;) {
    const bytes = crypto.randomBytes(16);
    bytes.writeUInt8(bytes.readUInt8(0) & 0x7f, 0);
    if (bytes.readUInt8(0) !== 0) return bytes;
  }
}

function derToPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

function octetStringContents(der: Buffer): Buffer {
  const t = readTlv(der, 0);
  if (t.tag !== 0x04) throw new Error('subjectKeyIdentifier is not an OCTET STRING');
  return der.subarray(t.contentStart, t.end);
}

function floorToSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

// ---------------------------------------------------------------------------------------------
// Keys

function generateRsaKeySync(): crypto.KeyObject {
  return crypto.generateKeyPairSync('rsa', { modulusLength: RSA_BITS, publicExponent: 0x10001 }).privateKey;
}

function generateRsaKey(): Promise<crypto.KeyObject> {
  return new Promise((resolve, reject) => {
    crypto.generateKeyPair('rsa', { modulusLength: RSA_BITS, publicExponent: 0x10001 }, (err, _pub, priv) =>
      err ? reject(err) : resolve(priv),
    );
  });
}

function readPrivateKey(keyPath: string): crypto.KeyObject {
  const text = readText(keyPath);
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(text);
  } catch (err) {
    throw corrupt(keyPath, `CA key ${keyPath} is not a valid PEM private key`, err);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== 'rsa' || bits < RSA_BITS) {
    throw corrupt(keyPath, `CA key ${keyPath} must be an RSA key of at least ${RSA_BITS} bits`);
  }
  return key;
}

/** A device's own public key: RSA >= 2048 or EC P-256/P-384; returns its DER SPKI. */
function validateDevicePublicKey(field: string, pem: string): Buffer {
  if (typeof pem !== 'string' || /PRIVATE KEY-----/.test(pem)) {
    throw new ValidationError(field, `${field} must be a PEM public key (never a private key)`);
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey(pem);
  } catch (err) {
    throw new ValidationError(field, `${field} is not a valid PEM public key: ${errorText(err)}`, {
      cause: err,
    });
  }
  const details = key.asymmetricKeyDetails ?? {};
  const ok =
    (key.asymmetricKeyType === 'rsa' && (details.modulusLength ?? 0) >= RSA_BITS) ||
    (key.asymmetricKeyType === 'ec' &&
      (details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1'));
  if (!ok) {
    const what =
      key.asymmetricKeyType === 'rsa' ? `RSA-${details.modulusLength}` : String(key.asymmetricKeyType);
    throw new ValidationError(
      field,
      `${field} is a ${what} key; expected RSA >= ${RSA_BITS} bits or EC P-256/P-384`,
    );
  }
  return key.export({ type: 'spki', format: 'der' });
}

// ---------------------------------------------------------------------------------------------
// Validation

function validateCommonName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 64) {
    throw new ValidationError(field, `${field} must be a string of 1 to 64 characters`);
  }
  if ([...value].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
    throw new ValidationError(field, `${field} must not contain control characters`);
  }
  return value;
}

function validateValidityDays(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_VALIDITY_DAYS) {
    throw new ValidationError(
      field,
      `${field} must be a positive number of days (at most ${MAX_VALIDITY_DAYS})`,
    );
  }
  return value;
}

const DNS_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;

function validateDnsName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > 253 || !DNS_NAME.test(value)) {
    throw new ValidationError(field, `${field} "${String(value)}" is not a valid DNS name`);
  }
  return value.toLowerCase();
}

/** Present in node-forge's util but missing from @types/node-forge. */
interface ForgeIpUtil {
  bytesFromIP(ip: string): string | null;
}

function ipBytes(field: string, value: unknown): Buffer {
  const bytes =
    typeof value === 'string' && net.isIP(value) !== 0
      ? (forge.util as unknown as ForgeIpUtil).bytesFromIP(value)
      : null;
  if (bytes === null || bytes === undefined) {
    throw new ValidationError(field, `${field} "${String(value)}" is not a valid IPv4 or IPv6 address`);
  }
  return Buffer.from(bytes, 'binary');
}

// ---------------------------------------------------------------------------------------------
// Files

function corrupt(file: string, message: string, cause?: unknown): PkiError {
  return new PkiError(
    'PkiCaCorrupt',
    `${message}; refusing to replace an existing CA (fix or remove it by hand)`,
    {
      file,
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

function keyMissing(certPath: string, keyPath: string): PkiError {
  return new PkiError(
    'PkiCaKeyMissing',
    `CA key ${keyPath} is missing while CA certificate ${certPath} exists; refusing to replace the CA (restore the key, or remove both files to start a new CA)`,
    { file: keyPath },
  );
}

function storageError(file: string, action: string, err: unknown): PkiError {
  return new PkiError('PkiStorage', `cannot ${action} ${file}: ${errorText(err)}`, { file, cause: err });
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function fileExists(file: string): boolean {
  try {
    fs.statSync(file);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw storageError(file, 'stat', err);
  }
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw storageError(file, 'read', err);
  }
}

function ensurePrivateDir(dir: string): void {
  try {
    if (fs.mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) fs.chmodSync(dir, 0o700);
  } catch (err) {
    throw storageError(dir, 'create directory', err);
  }
  if (!fs.statSync(dir).isDirectory())
    throw new PkiError('PkiStorage', `${dir} is not a directory`, { file: dir });
}

/**
 * Writes `content` to a private temp file with `mode` (set with fchmod, so the umask does not
 * matter), fsyncs it and links it to `target`. Returns false if `target` already exists.
 */
function publishExclusive(target: string, content: string, mode: number): boolean {
  const dir = path.dirname(target);
  const tmp = path.join(
    dir,
    `.${path.basename(target)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`,
  );
  try {
    const fd = fs.openSync(tmp, 'wx', mode);
    try {
      fs.fchmodSync(fd, mode);
      fs.writeFileSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw storageError(tmp, 'write', err);
  }
  try {
    fs.linkSync(tmp, target);
  } catch (err) {
    if (errCode(err) === 'EEXIST') return false;
    throw storageError(target, 'publish', err);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  fsyncDir(dir);
  return true;
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Best effort: not every platform can fsync a directory.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
