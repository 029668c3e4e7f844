/**
 * PKCS#10 certificate signing requests for claim-based enrollment: built by the device (the
 * virtual device here; the firmware with mbedTLS), checked by the platform before it signs.
 *
 * Accepted: RSA keys of 2048 to 8192 bits signed sha256WithRSAEncryption, and EC P-256 keys
 * signed ecdsa-with-SHA256. The subject must carry a CN (the name the device asks for); the
 * signature must verify with the CSR's own key (proof that the requester holds the key).
 * Parsed and built with @peculiar/asn1-csr and @peculiar/x509 (pki/x509.ts); signatures made and
 * checked with Node's crypto.
 */
import crypto from 'node:crypto';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { ValidationError, errorMessage } from '../common/errors.js';
import { sha256Hex } from './certificate-info.js';
import { publicKeyInfo } from './public-key.js';
import { RSA_MAX_BITS, RSA_MIN_BITS, describeKey, isAcceptedKey } from './keys.js';
import {
  AsnConvert,
  OID,
  asn1X509,
  commonNameOf,
  nameOf,
  signatureAlgorithmFor,
  toArrayBuffer,
  x509,
} from './x509.js';

/** A CSR is a few hundred bytes; anything this big is not one. */
export const MAX_CSR_BYTES = 16 * 1024;

export const ACCEPTED_CSR_KEYS = `RSA ${RSA_MIN_BITS}-${RSA_MAX_BITS} bits (sha256WithRSAEncryption) or EC P-256 (ecdsa-with-SHA256)`;

export interface VerifiedCsr {
  /** The subject CN: the name the device asks for. */
  commonName: string;
  publicKeyPem: string;
  /** SHA-256 of the DER SubjectPublicKeyInfo: the CSR fingerprint operators compare. */
  spkiSha256: string;
  keyDescription: string;
}

/** Builds a DER CSR with subject CN = `commonName`, signed by `privateKey` (RSA or EC P-256). */
export function createCsr(privateKey: crypto.KeyObject, commonName: string): Buffer {
  const spki = publicKeyInfo(privateKey).der;
  const info = new CertificationRequestInfo({
    version: 0,
    subject: nameOf(commonName),
    subjectPKInfo: AsnConvert.parse(toArrayBuffer(spki), asn1X509.SubjectPublicKeyInfo),
    attributes: new Attributes(),
  });
  const signature = crypto.sign('sha256', Buffer.from(AsnConvert.serialize(info)), privateKey);
  return Buffer.from(
    AsnConvert.serialize(
      new CertificationRequest({
        certificationRequestInfo: info,
        signatureAlgorithm: signatureAlgorithmFor(privateKey),
        signature: toArrayBuffer(signature),
      }),
    ),
  );
}

/**
 * Parses and checks a CSR; throws a ValidationError on field `csr` saying what is wrong
 * (never a half-checked result).
 */
export function verifyCsr(der: Uint8Array): VerifiedCsr {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  if (buf.length === 0 || buf.length > MAX_CSR_BYTES) {
    throw new ValidationError('csr', `csr must be a DER CSR of 1 to ${MAX_CSR_BYTES} bytes`);
  }
  let request: CertificationRequest;
  let info: Buffer;
  try {
    request = AsnConvert.parse(toArrayBuffer(buf), CertificationRequest);
    // DER and nothing else: the re-encoding must give back exactly the bytes received, so the
    // signature below is checked over what the device signed.
    if (!Buffer.from(AsnConvert.serialize(request)).equals(buf)) {
      throw new Error('not a single DER-encoded request (trailing or non-canonical bytes)');
    }
    if (request.certificationRequestInfo.version !== 0) throw new Error('version is not 0');
    info = Buffer.from(AsnConvert.serialize(request.certificationRequestInfo));
  } catch (err) {
    throw new ValidationError('csr', `csr is not a PKCS#10 request: ${errorMessage(err)}`, { cause: err });
  }
  const spki = Buffer.from(AsnConvert.serialize(request.certificationRequestInfo.subjectPKInfo));

  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (err) {
    throw new ValidationError('csr', `csr public key cannot be read: ${errorMessage(err)}`, { cause: err });
  }
  const keyDescription = describeKey(key);
  if (!isAcceptedKey(key)) {
    throw new ValidationError('csr', `csr key is ${keyDescription}; accepted: ${ACCEPTED_CSR_KEYS}`);
  }
  const algorithmOid = request.signatureAlgorithm.algorithm;
  const expectedAlgorithm =
    key.asymmetricKeyType === 'rsa' ? OID.sha256WithRSAEncryption : OID.ecdsaWithSha256;
  if (algorithmOid !== expectedAlgorithm) {
    throw new ValidationError(
      'csr',
      `csr is signed with algorithm ${algorithmOid}; a ${keyDescription} key must sign with ${expectedAlgorithm}`,
    );
  }
  if (!crypto.verify('sha256', info, key, Buffer.from(request.signature))) {
    throw new ValidationError('csr', 'csr signature does not verify with its own public key');
  }
  let commonName: string | undefined;
  try {
    commonName = commonNameOf(new x509.Name(request.certificationRequestInfo.subject));
  } catch (err) {
    throw new ValidationError('csr', `csr subject is malformed: ${errorMessage(err)}`, { cause: err });
  }
  if (!commonName) throw new ValidationError('csr', 'csr subject has no CN (the device name to enroll as)');
  return {
    commonName,
    publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString(),
    spkiSha256: sha256Hex(spki),
    keyDescription,
  };
}
