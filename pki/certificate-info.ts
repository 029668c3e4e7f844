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
import { PkiError } from './errors.js';
import { publicKeyInfo } from './public-key.js';
import { AsnConvert, asn1X509, commonNameOf, toArrayBuffer, x509 } from './x509.js';
import { errorMessage } from '../common/errors.js';

export interface CertificateInfo {
  /** As the platform records serials (serialHex), as in CertificateRecord.serial. */
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
  const native = parseX509(cert);
  const parsed = parseCertificate(native.raw);
  return {
    serial: serialHex(native.serialNumber),
    spkiSha256: sha256Hex(Buffer.from(parsed.publicKey.rawData)),
    commonName: commonNameOf(parsed.subjectName),
    issuerCommonName: commonNameOf(parsed.issuerName),
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
  };
}

/**
 * SHA-256 of the SubjectPublicKeyInfo, given either a DER certificate (`peerCert.raw`, works for
 * every key type) or a DER SubjectPublicKeyInfo (`peerCert.pubkey` for RSA keys; for EC keys Node's
 * `pubkey` is the bare curve point, which is rejected: use `.raw` or spkiSha256FromPeerCertificate).
 */
export function spkiSha256FromDer(der: Buffer): string {
  // Whichever of the two structures the bytes are, exactly (re-encoding gives the same bytes).
  const readers = [
    (bytes: ArrayBuffer) => AsnConvert.parse(bytes, asn1X509.SubjectPublicKeyInfo),
    (bytes: ArrayBuffer) => AsnConvert.parse(bytes, asn1X509.Certificate),
  ];
  for (const read of readers) {
    try {
      const parsed = read(toArrayBuffer(der));
      if (!Buffer.from(AsnConvert.serialize(parsed)).equals(der)) continue;
      const spki =
        parsed instanceof asn1X509.Certificate ? parsed.tbsCertificate.subjectPublicKeyInfo : parsed;
      return sha256Hex(Buffer.from(AsnConvert.serialize(spki)));
    } catch {
      // not this structure; try the next
    }
  }
  throw new PkiError(
    'PkiInvalidCertificate',
    'cannot compute spkiSha256: input is not a DER certificate or SubjectPublicKeyInfo',
  );
}

/**
 * The gateway's entry point: spkiSha256 of an authenticated TLS peer's certificate. The gateway
 * does this for every session, and parsing the whole certificate (the X.509 library, or Node's
 * parser and key encoder at a quarter of a millisecond) was a fifth of its CPU in a provisioning
 * burst: the SPKI is taken from the key Node's TLS layer already read — `pubkey`, which is the
 * SPKI for RSA and the bare point for EC (put behind its curve's SPKI header) — when those are
 * exactly the bytes inside the certificate; otherwise the certificate is parsed.
 */
export function spkiSha256FromPeerCertificate(
  peer: Pick<PeerCertificate, 'raw' | 'pubkey' | 'asn1Curve'>,
): string {
  if (!peer.raw || peer.raw.length === 0) {
    throw new PkiError('PkiInvalidCertificate', 'TLS peer presented no certificate');
  }
  const spki = peer.pubkey && (peer.asn1Curve ? ecSpki(peer.asn1Curve, peer.pubkey) : peer.pubkey);
  return spki && peer.raw.includes(spki) ? sha256Hex(spki) : spkiSha256FromDer(peer.raw);
}

/** By curve: the bytes of an EC SPKI before its uncompressed point, as Node encodes them. */
const ecSpkiHeaders = new Map<string, Buffer | undefined>();

/** The SPKI of an EC point on a named curve; undefined for a curve Node does not know. */
function ecSpki(curve: string, point: Buffer): Buffer | undefined {
  if (!ecSpkiHeaders.has(curve)) {
    try {
      const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: curve });
      const der = publicKey.export({ type: 'spki', format: 'der' });
      const { x, y } = publicKey.export({ format: 'jwk' });
      const point = Buffer.concat([Buffer.of(4), Buffer.from(x!, 'base64url'), Buffer.from(y!, 'base64url')]);
      const header = der.subarray(0, der.length - point.length);
      ecSpkiHeaders.set(curve, der.subarray(header.length).equals(point) ? header : undefined);
    } catch {
      ecSpkiHeaders.set(curve, undefined);
    }
  }
  const header = ecSpkiHeaders.get(curve);
  return header && Buffer.concat([header, point]);
}

/** spkiSha256 of a public key (or of the public half of a private key), PEM or KeyObject. */
export function spkiSha256FromPublicKey(key: string | crypto.KeyObject): string {
  return sha256Hex(publicKeyInfo(key).der);
}

// ---------------------------------------------------------------------------------------------
// Internals shared with certificate-authority.ts (not re-exported from pki/index.ts).

export function sha256Hex(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

export function parseX509(cert: string | Buffer): crypto.X509Certificate {
  try {
    return new crypto.X509Certificate(cert);
  } catch (err) {
    throw new PkiError('PkiInvalidCertificate', `not a valid X.509 certificate: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/** The library's view of a DER certificate (names, key, validity, extensions). */
export function parseCertificate(der: Buffer): x509.X509Certificate {
  try {
    return new x509.X509Certificate(toArrayBuffer(der));
  } catch (err) {
    throw new PkiError('PkiInvalidCertificate', `malformed X.509 certificate: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/**
 * The one spelling of a certificate serial the platform records — the certificate ledger, a
 * device's status.identity, a gateway's sessions, log lines: lower-case hex of the serial's
 * bytes, in whole bytes, so a serial whose first byte is below 0x10 keeps its leading zero
 * nibble (1 in 16 of the CA's random serials). The CA writes a new serial so, and Node prints one
 * so in upper case (X509Certificate and TLS PeerCertificate serialNumber); a spelling from
 * outside without the leading zero, or with zero bytes before it, comes out the same. (Not hex at
 * all: only lower-cased, so it matches no certificate.)
 */
export function serialHex(serial: string): string {
  const lower = serial.toLowerCase();
  if (!/^[0-9a-f]+$/.test(lower)) return lower;
  const digits = lower.replace(/^0+/, '');
  return digits.length % 2 === 1 ? `0${digits}` : digits || '00';
}
