/**
 * The one place the PKI builds and reads X.509 structures, with @peculiar/x509 and the ASN.1
 * schemas it is built on (@peculiar/asn1-x509, -csr, -rsa, -ecc): names, extensions, validity
 * times, algorithm identifiers, certificates and PKCS#10 requests are encoded and parsed by that
 * library, never by hand.
 *
 * Signatures are made and checked with Node's crypto (OpenSSL), synchronously: the library's own
 * generator signs through WebCrypto, which is async only, and would turn every issuing call in the
 * platform (activities, gateway start-up, claim certificates) into a promise for no gain.
 */
// @peculiar/x509 resolves its algorithm and signature providers through tsyringe, which needs
// the Reflect metadata API before the library is loaded (ES modules evaluate imports in order).
import 'reflect-metadata';
import crypto from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(crypto.webcrypto as unknown as Crypto);

export { asn1X509, AsnConvert, x509 };

export const OID = {
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
} as const;

/**
 * The signature algorithm a key signs certificates and CSRs with: sha256WithRSAEncryption (NULL
 * parameters) or ecdsa-with-SHA256 (no parameters). Built from the OIDs rather than taken from
 * @peculiar/asn1-rsa's ready-made `sha256WithRSAEncryption`, which (2.11.1) carries the OID of
 * sha512-256WithRSAEncryption (…1.1.16) and made OpenSSL reject every RSA signature.
 */
export function signatureAlgorithmFor(key: crypto.KeyObject): asn1X509.AlgorithmIdentifier {
  if (key.asymmetricKeyType === 'rsa') {
    return new asn1X509.AlgorithmIdentifier({ algorithm: OID.sha256WithRSAEncryption, parameters: null });
  }
  if (key.asymmetricKeyType === 'ec')
    return new asn1X509.AlgorithmIdentifier({ algorithm: OID.ecdsaWithSha256 });
  throw new Error(`cannot sign with a ${String(key.asymmetricKeyType)} key`);
}

export interface CertificateFields {
  /** Hex of the serial's DER INTEGER contents (positive, minimal). */
  serialHex: string;
  issuer: asn1X509.Name;
  subject: asn1X509.Name;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key. */
  spki: Buffer;
  /** Parsed once with asnExtensions() and reused: building an extension costs more than signing. */
  extensions: asn1X509.Extension[];
}

/** The library's extension objects as the ASN.1 structures a TBSCertificate holds. */
export function asnExtensions(extensions: x509.Extension[]): asn1X509.Extension[] {
  return extensions.map((e) => AsnConvert.parse(e.rawData, asn1X509.Extension));
}

/** A v3 certificate with `fields`, signed by `signingKey`; returns its DER. */
export function signCertificate(signingKey: crypto.KeyObject, fields: CertificateFields): Buffer {
  const algorithm = signatureAlgorithmFor(signingKey);
  const tbs = new asn1X509.TBSCertificate({
    version: asn1X509.Version.v3,
    serialNumber: toArrayBuffer(Buffer.from(fields.serialHex, 'hex')),
    signature: algorithm,
    issuer: fields.issuer,
    validity: new asn1X509.Validity({ notBefore: fields.notBefore, notAfter: fields.notAfter }),
    subject: fields.subject,
    subjectPublicKeyInfo: AsnConvert.parse(toArrayBuffer(fields.spki), asn1X509.SubjectPublicKeyInfo),
    extensions: new asn1X509.Extensions(fields.extensions),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const certificate = new asn1X509.Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: algorithm,
    // ECDSA: Node produces the DER Ecdsa-Sig-Value that X.509 wants.
    signatureValue: toArrayBuffer(crypto.sign('sha256', tbsDer, signingKey)),
  });
  return Buffer.from(AsnConvert.serialize(certificate));
}

/** An X.509 Name holding one CN, or O then CN; printable values as PrintableString, others UTF8String. */
export function nameOf(commonName: string, organization?: string): asn1X509.Name {
  const json: x509.JsonName = organization
    ? [{ '2.5.4.10': [organization] }, { '2.5.4.3': [commonName] }]
    : [{ '2.5.4.3': [commonName] }];
  return AsnConvert.parse(new x509.Name(json).toArrayBuffer(), asn1X509.Name);
}

/** The last (most specific) CN of a Name; undefined when it has none. */
export function commonNameOf(name: x509.Name): string | undefined {
  return name.getField('CN').at(-1);
}

/**
 * RFC 5280 §4.2.1.2 method (1) key identifier: SHA-1 of the subjectPublicKey BIT STRING value
 * (what OpenSSL writes as subjectKeyIdentifier), computed from a DER SubjectPublicKeyInfo.
 */
export function keyIdentifierFromSpki(spki: Buffer): Buffer {
  const parsed = AsnConvert.parse(toArrayBuffer(spki), asn1X509.SubjectPublicKeyInfo);
  return crypto.createHash('sha1').update(Buffer.from(parsed.subjectPublicKey)).digest();
}

export function toArrayBuffer(buf: Buffer): ArrayBuffer {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}
