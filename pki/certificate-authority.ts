/**
 * The platform's device CA: a persistent root that signs the gateways' server certificates and
 * the devices' client certificates (CN = device name). A new CA has an RSA-2048 key (see
 * ARCHITECTURE.md, "Keys and certificates", for why); an existing CA with an RSA (2048-8192) or
 * EC P-256 key is loaded as it is. Device keys are EC P-256 unless asked otherwise.
 *
 * Certificates are built with @peculiar/x509 and its ASN.1 schemas and signed with Node's
 * crypto (pki/x509.ts). Key pairs come from Node's native generator (pki/keys.ts).
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
import { ValidationError, errorMessage } from '../common/errors.js';
import { SAN_DNS_NAME_PATTERN } from '../common/names.js';
import { parseCertificate, serialHex, sha256Hex } from './certificate-info.js';
import { publicKeyInfo } from './public-key.js';
import { PkiError } from './errors.js';
import {
  DEFAULT_DEVICE_KEY_TYPE,
  describeKey,
  generatePrivateKey,
  generatePrivateKeyAsync,
  isAcceptedKey,
  validateDevicePublicKey,
  type KeyType,
} from './keys.js';
import {
  AsnConvert,
  asn1X509,
  asnExtensions,
  commonNameOf,
  keyIdentifierFromSpki,
  nameOf,
  signCertificate,
  x509,
} from './x509.js';

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';
export const DEFAULT_CA_COMMON_NAME = 'Wasmbed Device CA';
export const DEFAULT_CA_VALIDITY_DAYS = 3650;
export const DEFAULT_SERVER_VALIDITY_DAYS = 365;
export const DEFAULT_CLIENT_VALIDITY_DAYS = 90;
/** notBefore is backdated by this much so a device with a slightly slow clock accepts the cert. */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** The key type of a newly created CA and of gateway server keys. */
export const DEFAULT_CA_KEY_TYPE: KeyType = 'rsa2048';
export const DEFAULT_SERVER_KEY_TYPE: KeyType = 'rsa2048';
const DAY_MS = 86_400_000;
const MAX_VALIDITY_DAYS = 100 * 365;

export interface CertificateAuthorityOptions {
  /** Subject CN of a newly created CA (ignored when the CA already exists). */
  commonName?: string;
  /** Validity of a newly created CA, in days (default 3650). */
  validityDays?: number;
  /** Key type of a newly created CA (default DEFAULT_CA_KEY_TYPE; ignored when the CA exists). */
  keyType?: KeyType;
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
  /** Type of the generated server key (default DEFAULT_SERVER_KEY_TYPE). */
  keyType?: KeyType;
}

export interface ClientCertificateRequest {
  /** The device name. */
  commonName: string;
  /** SPKI ("PUBLIC KEY") or PKCS#1 PEM public key (e.g. from a CSR): RSA 2048-8192 bits or EC P-256. */
  publicKeyPem?: string;
  /** Type of the generated key when no publicKeyPem is given (default p256). */
  keyType?: KeyType;
  /** Default 90. Clamped to the CA's own expiry. */
  validityDays?: number;
}

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

  /** "RSA-2048", "EC prime256v1": the CA's key. */
  readonly keyDescription: string;

  private readonly native: crypto.X509Certificate;
  private readonly key: crypto.KeyObject;
  private readonly subject: asn1X509.Name;
  private readonly keyId: string;
  /** Extensions every device certificate carries (all but its SKI), built once. */
  private readonly clientExtensions: asn1X509.Extension[];

  private constructor(
    certPath: string,
    keyPath: string,
    native: crypto.X509Certificate,
    key: crypto.KeyObject,
  ) {
    const parsed = parseCertificate(native.raw);
    const spki = Buffer.from(parsed.publicKey.rawData);
    this.certPath = certPath;
    this.keyPath = keyPath;
    this.native = native;
    this.key = key;
    this.keyDescription = describeKey(key);
    this.certPem = native.toString();
    this.subject = AsnConvert.parse(parsed.subjectName.toArrayBuffer(), asn1X509.Name);
    this.serial = serialHex(native.serialNumber);
    this.spkiSha256 = sha256Hex(spki);
    this.notBefore = parsed.notBefore;
    this.notAfter = parsed.notAfter;
    this.commonName = commonNameOf(parsed.subjectName) ?? '';
    // AKI of issued certificates must equal this CA's SKI; compute one only if the CA lacks it.
    const ski = parsed.getExtension(x509.SubjectKeyIdentifierExtension);
    this.keyId = ski ? ski.keyId : keyIdentifierFromSpki(spki).toString('hex');
    this.clientExtensions = asnExtensions([
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
    ]);
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
    const keyType = opts.keyType ?? DEFAULT_CA_KEY_TYPE;
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
        const key = await generatePrivateKeyAsync(keyType);
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
    let native: crypto.X509Certificate;
    try {
      native = new crypto.X509Certificate(certText);
    } catch (err) {
      throw corrupt(certPath, `CA certificate ${certPath} is not a valid PEM certificate`, err);
    }
    if (!native.ca) {
      throw corrupt(
        certPath,
        `CA certificate ${certPath} is not a CA certificate (basicConstraints CA:FALSE)`,
      );
    }
    if (native.subject === native.issuer && !native.verify(native.publicKey)) {
      throw corrupt(certPath, `CA certificate ${certPath} has an invalid self-signature`);
    }
    const key = readPrivateKey(keyPath);
    if (!native.checkPrivateKey(key)) {
      throw corrupt(keyPath, `CA key ${keyPath} does not match CA certificate ${certPath}`);
    }
    try {
      return new CertificateAuthority(certPath, keyPath, native, key);
    } catch (err) {
      throw corrupt(certPath, `CA certificate ${certPath} cannot be used: ${errorMessage(err)}`, err);
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
    const ips = (req.ipAddresses ?? []).map((ip, i) => validateIp(`ipAddresses[${i}]`, ip));
    if (dnsNames.length === 0 && ips.length === 0) {
      throw new ValidationError('dnsNames', 'a server certificate needs at least one DNS name or IP address');
    }
    const key = generatePrivateKey(req.keyType ?? DEFAULT_SERVER_KEY_TYPE);
    const san = new x509.SubjectAlternativeNameExtension([
      ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...ips.map((value) => ({ type: 'ip' as const, value })),
    ]);
    // keyEncipherment only where it means something: RSA key transport (TLS 1.2 RSA suites).
    const usage =
      key.asymmetricKeyType === 'rsa'
        ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
        : x509.KeyUsageFlags.digitalSignature;
    const issued = this.sign(
      commonName,
      publicKeyInfo(key).der,
      validityDays,
      asnExtensions([
        new x509.KeyUsagesExtension(usage, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        san,
      ]),
    );
    return { ...issued, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
  }

  /**
   * A TLS client certificate (device): clientAuth, CN = device name. Generates a key pair of
   * `keyType` (EC P-256 by default; returned as keyPem) unless `publicKeyPem` is given, in which
   * case no key is returned.
   */
  issueClientCertificate(req: ClientCertificateRequest): IssuedCertificate {
    const commonName = validateCommonName('commonName', req.commonName);
    const validityDays = validateValidityDays(
      'validityDays',
      req.validityDays ?? DEFAULT_CLIENT_VALIDITY_DAYS,
    );
    const exts = this.clientExtensions;
    if (req.publicKeyPem !== undefined) {
      validateDevicePublicKey('publicKeyPem', req.publicKeyPem);
      return this.sign(commonName, publicKeyInfo(req.publicKeyPem).der, validityDays, exts);
    }
    const key = generatePrivateKey(req.keyType ?? DEFAULT_DEVICE_KEY_TYPE);
    const issued = this.sign(commonName, publicKeyInfo(key).der, validityDays, exts);
    return { ...issued, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
  }

  /** True when `certPem` parses and was signed by this CA (issuer name and signature). */
  isIssuerOf(certPem: string): boolean {
    try {
      const cert = new crypto.X509Certificate(certPem);
      return cert.checkIssued(this.native) && cert.verify(this.native.publicKey);
    } catch {
      return false;
    }
  }

  private sign(
    commonName: string,
    spki: Buffer,
    validityDays: number,
    exts: asn1X509.Extension[],
  ): IssuedCertificate {
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
    const der = signCertificate(this.key, {
      serialHex: serial,
      issuer: this.subject,
      subject: nameOf(commonName),
      notBefore,
      notAfter,
      spki,
      extensions: [
        ...END_ENTITY,
        ...exts,
        ...asnExtensions([
          new x509.SubjectKeyIdentifierExtension(keyIdentifierFromSpki(spki).toString('hex')),
          new x509.AuthorityKeyIdentifierExtension(this.keyId),
        ]),
      ],
    });
    return {
      certPem: derToPem(der),
      serial,
      spkiSha256: sha256Hex(spki),
      notBefore,
      notAfter,
      commonName,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Certificate assembly

/** basicConstraints CA:FALSE, critical: what makes a certificate an end entity. */
const END_ENTITY = asnExtensions([new x509.BasicConstraintsExtension(false, undefined, true)]);

function buildSelfSignedCa(key: crypto.KeyObject, commonName: string, validityDays: number): Buffer {
  const now = Date.now();
  const spki = publicKeyInfo(key).der;
  const keyId = keyIdentifierFromSpki(spki).toString('hex');
  const name = nameOf(commonName, 'Wasmbed');
  return signCertificate(key, {
    serialHex: randomSerial(),
    issuer: name,
    subject: name,
    notBefore: new Date(floorToSecond(now - CLOCK_SKEW_MS)),
    notAfter: new Date(floorToSecond(now + validityDays * DAY_MS)),
    spki,
    extensions: asnExtensions([
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectKeyIdentifierExtension(keyId),
      new x509.AuthorityKeyIdentifierExtension(keyId),
    ]),
  });
}

/** 16 random bytes as hex, top bit clear (positive INTEGER) and first byte non-zero (minimal DER). */
function randomSerial(): string {
  for (;;) {
    const bytes = crypto.randomBytes(16);
    bytes.writeUInt8(bytes.readUInt8(0) & 0x7f, 0);
    if (bytes.readUInt8(0) !== 0) return bytes.toString('hex');
  }
}

function derToPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

function floorToSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

// ---------------------------------------------------------------------------------------------
// Keys

function readPrivateKey(keyPath: string): crypto.KeyObject {
  const text = readText(keyPath);
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(text);
  } catch (err) {
    throw corrupt(keyPath, `CA key ${keyPath} is not a valid PEM private key`, err);
  }
  if (!isAcceptedKey(key)) {
    throw corrupt(
      keyPath,
      `CA key ${keyPath} is ${describeKey(key)}; a CA key must be RSA of 2048-8192 bits or EC P-256`,
    );
  }
  return key;
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

const DNS_NAME = new RegExp(SAN_DNS_NAME_PATTERN, 'i');

function validateDnsName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > 253 || !DNS_NAME.test(value)) {
    throw new ValidationError(field, `${field} "${String(value)}" is not a valid DNS name`);
  }
  return value.toLowerCase();
}

function validateIp(field: string, value: unknown): string {
  if (typeof value !== 'string' || net.isIP(value) === 0) {
    throw new ValidationError(field, `${field} "${String(value)}" is not a valid IPv4 or IPv6 address`);
  }
  return value;
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
  return new PkiError('PkiStorage', `cannot ${action} ${file}: ${errorMessage(err)}`, { file, cause: err });
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
