/**
 * Reading certificates: the fields the platform records about a device identity, computed
 * the same way on the issuing side (orchestrator) and on the verifying side (gateway, from a
 * Node TLS peer certificate).
 *
 * `spkiSha256` is the lowercase hex SHA-256 of the DER SubjectPublicKeyInfo exactly as it
 * appears inside the certificate (the same value `openssl x509 -pubkey | openssl pkey -pubin
 * -outform DER | sha256sum` prints, and the usual "SPKI pin").
 */
import crypto from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import forge from 'node-forge';
import { PkiError } from './errors.js';

export interface CertificateInfo {
  /** Lowercase hex, as stored in CertificateRecord.serial. */
  serial: string;
  spkiSha256: string;
  /** Subject CN (the device name for device certificates); undefined when the subject has none. */
  commonName: string | undefined;
  notBefore: Date;
  notAfter: Date;
  issuerCommonName: string | undefined;
}

/** Parses a PEM (or DER) certificate and returns its identity fields. Throws PkiError if unparsable. */
export function inspectCertificate(cert: string | Buffer): CertificateInfo {
  const x509 = parseX509(cert);
  const parts = parseCertificateDer(x509.raw);
  return {
    serial: x509.serialNumber.toLowerCase(),
    spkiSha256: sha256Hex(parts.spki),
    commonName: commonNameOf(parts.subject),
    issuerCommonName: commonNameOf(parts.issuer),
    notBefore: parts.notBefore,
    notAfter: parts.notAfter,
  };
}

/**
 * SHA-256 of the SubjectPublicKeyInfo, given either a DER certificate (`peerCert.raw`, works for
 * every key type) or a DER SubjectPublicKeyInfo (`peerCert.pubkey` for RSA keys; for EC keys Node's
 * `pubkey` is the bare curve point, which is rejected: use `.raw` or spkiSha256FromPeerCertificate).
 */
export function spkiSha256FromDer(der: Buffer): string {
  try {
    const outer = readTlv(der, 0);
    if (outer.tag !== 0x30 || outer.end !== der.length) throw new Error('not a DER SEQUENCE');
    const kids = childrenOf(der, outer);
    if (kids.length === 2 && kids[0]?.tag === 0x30 && kids[1]?.tag === 0x03) {
      return sha256Hex(der); // SubjectPublicKeyInfo ::= SEQUENCE { algorithm, BIT STRING }
    }
    if (kids.length === 3 && kids[0]?.tag === 0x30 && kids[2]?.tag === 0x03) {
      return sha256Hex(parseCertificateDer(der).spki);
    }
    throw new Error('neither a certificate nor a SubjectPublicKeyInfo');
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError(
      'PkiInvalidCertificate',
      `cannot compute spkiSha256: input is not a DER certificate or SubjectPublicKeyInfo (${errorText(err)})`,
      { cause: err },
    );
  }
}

/** The gateway's entry point: spkiSha256 of an authenticated TLS peer's certificate. */
export function spkiSha256FromPeerCertificate(peer: Pick<PeerCertificate, 'raw'>): string {
  if (!peer.raw || peer.raw.length === 0) {
    throw new PkiError('PkiInvalidCertificate', 'TLS peer presented no certificate');
  }
  return spkiSha256FromDer(peer.raw);
}

/** spkiSha256 of a public key (or of the public half of a private key), PEM or KeyObject. */
export function spkiSha256FromPublicKey(key: string | crypto.KeyObject): string {
  return sha256Hex(spkiDerOf(key));
}

// ---------------------------------------------------------------------------------------------
// Internals shared with certificate-authority.ts (not re-exported from pki/index.ts).

export function sha256Hex(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function parseX509(cert: string | Buffer): crypto.X509Certificate {
  try {
    return new crypto.X509Certificate(cert);
  } catch (err) {
    throw new PkiError('PkiInvalidCertificate', `not a valid X.509 certificate: ${errorText(err)}`, {
      cause: err,
    });
  }
}

/**
 * Node prints serials in upper-case hex, possibly with leading zeros; the PKI records lower-case
 * hex of the DER bytes, which may start with a zero nibble. Compare serials only through this.
 */
export function normalizeSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+(?=.)/, '');
}

/** DER SubjectPublicKeyInfo of a PEM public key / private key / KeyObject. */
export function spkiDerOf(key: string | crypto.KeyObject): Buffer {
  try {
    const obj = typeof key === 'string' ? crypto.createPublicKey(key) : key;
    const pub = obj.type === 'private' ? crypto.createPublicKey(obj) : obj;
    return pub.export({ type: 'spki', format: 'der' });
  } catch (err) {
    throw new PkiError('PkiInvalidCertificate', `not a valid public key: ${errorText(err)}`, { cause: err });
  }
}

/**
 * RFC 5280 §4.2.1.2 method (1) key identifier: SHA-1 of the subjectPublicKey BIT STRING value
 * (what OpenSSL writes as subjectKeyIdentifier), computed from a DER SubjectPublicKeyInfo.
 */
export function keyIdentifierFromSpki(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0);
  const bits = childrenOf(spki, outer)[1];
  if (!bits || bits.tag !== 0x03) throw new Error('SubjectPublicKeyInfo has no BIT STRING');
  return crypto
    .createHash('sha1')
    .update(spki.subarray(bits.contentStart + 1, bits.end))
    .digest();
}

/** A DER TLV: tag byte, and byte offsets of the whole element and of its contents. */
export interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

/** Reads one DER element (single-byte tags, definite lengths up to 4 bytes) at `offset`. */
export function readTlv(buf: Buffer, offset: number): Tlv {
  if (offset + 2 > buf.length) throw new Error(`truncated DER at offset ${offset}`);
  const tag = buf.readUInt8(offset);
  if ((tag & 0x1f) === 0x1f) throw new Error(`unsupported high-number DER tag at offset ${offset}`);
  const first = buf.readUInt8(offset + 1);
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new Error(`unsupported DER length form at offset ${offset}`);
    if (offset + 2 + n > buf.length) throw new Error(`truncated DER length at offset ${offset}`);
    length = buf.readUIntBE(offset + 2, n);
    contentStart = offset + 2 + n;
  }
  const end = contentStart + length;
  if (end > buf.length) throw new Error(`DER element at offset ${offset} overruns its buffer`);
  return { tag, start: offset, contentStart, end };
}

export function childrenOf(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.contentStart;
  while (pos < parent.end) {
    const child = readTlv(buf, pos);
    if (child.end > parent.end) throw new Error(`DER element at offset ${pos} overruns its parent`);
    out.push(child);
    pos = child.end;
  }
  return out;
}

export interface CertificateParts {
  /** Raw DER of the issuer and subject Names and of the SubjectPublicKeyInfo. */
  issuer: Buffer;
  subject: Buffer;
  spki: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** extnValue contents (the DER inside the OCTET STRING) by extension OID. */
  extensions: Map<string, Buffer>;
}

/** Splits a DER X.509 certificate into the raw pieces the PKI needs. */
export function parseCertificateDer(der: Buffer): CertificateParts {
  try {
    const cert = readTlv(der, 0);
    const tbs = childrenOf(der, cert)[0];
    if (!tbs || tbs.tag !== 0x30) throw new Error('no TBSCertificate');
    const f = childrenOf(der, tbs);
    const o = f[0]?.tag === 0xa0 ? 1 : 0; // explicit [0] version present (v2/v3)
    const issuer = f[o + 2];
    const validity = f[o + 3];
    const subject = f[o + 4];
    const spki = f[o + 5];
    if (!issuer || !validity || !subject || !spki) throw new Error('TBSCertificate is incomplete');
    const [nb, na] = childrenOf(der, validity);
    if (!nb || !na) throw new Error('Validity is incomplete');
    const extensions = new Map<string, Buffer>();
    const extWrapper = f.slice(o + 6).find((t) => t.tag === 0xa3);
    if (extWrapper) {
      const seq = childrenOf(der, extWrapper)[0];
      for (const ext of seq ? childrenOf(der, seq) : []) {
        const items = childrenOf(der, ext);
        const oid = items[0];
        const value = items[items.length - 1];
        if (!oid || oid.tag !== 0x06 || !value || value.tag !== 0x04) continue;
        extensions.set(oidOf(der, oid), der.subarray(value.contentStart, value.end));
      }
    }
    return {
      issuer: der.subarray(issuer.start, issuer.end),
      subject: der.subarray(subject.start, subject.end),
      spki: der.subarray(spki.start, spki.end),
      notBefore: timeOf(der, nb),
      notAfter: timeOf(der, na),
      extensions,
    };
  } catch (err) {
    throw new PkiError('PkiInvalidCertificate', `malformed X.509 certificate: ${errorText(err)}`, {
      cause: err,
    });
  }
}

const OID_COMMON_NAME = '2.5.4.3';

/** The CN of a DER Name (the last one, the most specific, if there are several). */
export function commonNameOf(name: Buffer): string | undefined {
  try {
    let cn: string | undefined;
    for (const rdn of childrenOf(name, readTlv(name, 0))) {
      for (const atv of childrenOf(name, rdn)) {
        const [type, value] = childrenOf(name, atv);
        if (!type || !value || type.tag !== 0x06 || oidOf(name, type) !== OID_COMMON_NAME) continue;
        cn = decodeDirectoryString(value.tag, name.subarray(value.contentStart, value.end));
      }
    }
    return cn;
  } catch (err) {
    throw new PkiError('PkiInvalidCertificate', `malformed distinguished name: ${errorText(err)}`, {
      cause: err,
    });
  }
}

function decodeDirectoryString(tag: number, bytes: Buffer): string {
  switch (tag) {
    case 0x0c: // UTF8String
      return bytes.toString('utf8');
    case 0x1e: // BMPString (UCS-2 big endian)
      return Buffer.from(bytes).swap16().toString('utf16le');
    default: // PrintableString, IA5String, TeletexString: single-byte
      return bytes.toString('latin1');
  }
}

function oidOf(buf: Buffer, tlv: Tlv): string {
  return forge.asn1.derToOid(buf.subarray(tlv.contentStart, tlv.end).toString('binary'));
}

function timeOf(buf: Buffer, tlv: Tlv): Date {
  const text = buf.subarray(tlv.contentStart, tlv.end).toString('latin1');
  if (tlv.tag === 0x17) return forge.asn1.utcTimeToDate(text);
  if (tlv.tag === 0x18) return forge.asn1.generalizedTimeToDate(text);
  throw new Error(`unexpected time tag 0x${tlv.tag.toString(16)}`);
}
