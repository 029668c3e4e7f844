/**
 * PKCS#10 certificate signing requests for claim-based enrollment: built by the device (the
 * virtual device here; the firmware with mbedTLS), checked by the platform before it signs.
 *
 * Accepted: RSA keys of 2048 to 8192 bits signed sha256WithRSAEncryption, and EC P-256 keys
 * signed ecdsa-with-SHA256. The subject must carry a CN (the name the device asks for); the
 * signature must verify with the CSR's own key (proof that the requester holds the key).
 * Parsed with the DER reader of certificate-info.ts and verified with Node's crypto, because
 * node-forge can only verify RSA requests.
 */
import crypto from 'node:crypto';
import forge from 'node-forge';
import { ValidationError } from '../common/errors.js';
import { childrenOf, commonNameOf, errorText, readTlv, sha256Hex } from './certificate-info.js';
import { distinguishedName, oid, seq, tlv } from './der.js';

const OID = {
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
} as const;

const RSA_MIN_BITS = 2048;
const RSA_MAX_BITS = 8192;
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
  const publicKey = crypto.createPublicKey(privateKey);
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const info = seq(
    tlv(0x02, Buffer.from([0])), // version 0
    distinguishedName([[OID.commonName, commonName]]),
    spki,
    tlv(0xa0), // no attributes
  );
  const ec = privateKey.asymmetricKeyType === 'ec';
  const algorithm = ec ? seq(oid(OID.ecdsaWithSha256)) : seq(oid(OID.sha256WithRSAEncryption), tlv(0x05));
  const signature = crypto.sign('sha256', info, privateKey);
  return seq(info, algorithm, tlv(0x03, Buffer.from([0]), signature));
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
  let info: Buffer;
  let algorithmOid: string;
  let signature: Buffer;
  let subject: Buffer;
  let spki: Buffer;
  try {
    const outer = readTlv(buf, 0);
    if (outer.tag !== 0x30 || outer.end !== buf.length) throw new Error('not a single DER SEQUENCE');
    const [infoTlv, algTlv, sigTlv, ...rest] = childrenOf(buf, outer);
    if (!infoTlv || !algTlv || !sigTlv || rest.length > 0) throw new Error('expected 3 elements');
    info = buf.subarray(infoTlv.start, infoTlv.end);
    const infoParts = childrenOf(buf, infoTlv);
    if (infoParts.length < 3) throw new Error('certificationRequestInfo is too short');
    const [version, subjectTlv, spkiTlv] = infoParts as [typeof infoTlv, typeof infoTlv, typeof infoTlv];
    if (version.tag !== 0x02 || buf[version.contentStart] !== 0 || version.end - version.contentStart !== 1) {
      throw new Error('version is not 0');
    }
    subject = buf.subarray(subjectTlv.start, subjectTlv.end);
    spki = buf.subarray(spkiTlv.start, spkiTlv.end);
    const algOid = childrenOf(buf, algTlv)[0];
    if (!algOid || algOid.tag !== 0x06) throw new Error('signatureAlgorithm has no OID');
    algorithmOid = forge.asn1.derToOid(buf.subarray(algOid.contentStart, algOid.end).toString('binary'));
    if (sigTlv.tag !== 0x03 || buf[sigTlv.contentStart] !== 0)
      throw new Error('signature is not a BIT STRING');
    signature = buf.subarray(sigTlv.contentStart + 1, sigTlv.end);
  } catch (err) {
    throw new ValidationError('csr', `csr is not a PKCS#10 request: ${errorText(err)}`, { cause: err });
  }

  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (err) {
    throw new ValidationError('csr', `csr public key cannot be read: ${errorText(err)}`, { cause: err });
  }
  const details = key.asymmetricKeyDetails ?? {};
  const bits = details.modulusLength ?? 0;
  const isRsa = key.asymmetricKeyType === 'rsa' && bits >= RSA_MIN_BITS && bits <= RSA_MAX_BITS;
  const isP256 = key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1';
  const keyDescription =
    key.asymmetricKeyType === 'rsa'
      ? `RSA-${bits}`
      : key.asymmetricKeyType === 'ec'
        ? `EC ${details.namedCurve}`
        : String(key.asymmetricKeyType);
  if (!isRsa && !isP256) {
    throw new ValidationError('csr', `csr key is ${keyDescription}; accepted: ${ACCEPTED_CSR_KEYS}`);
  }
  const expectedAlgorithm = isRsa ? OID.sha256WithRSAEncryption : OID.ecdsaWithSha256;
  if (algorithmOid !== expectedAlgorithm) {
    throw new ValidationError(
      'csr',
      `csr is signed with algorithm ${algorithmOid}; a ${keyDescription} key must sign with ${expectedAlgorithm}`,
    );
  }
  if (!crypto.verify('sha256', info, key, signature)) {
    throw new ValidationError('csr', 'csr signature does not verify with its own public key');
  }
  let commonName: string | undefined;
  try {
    commonName = commonNameOf(subject);
  } catch (err) {
    throw new ValidationError('csr', `csr subject is malformed: ${errorText(err)}`, { cause: err });
  }
  if (!commonName) throw new ValidationError('csr', 'csr subject has no CN (the device name to enroll as)');
  return {
    commonName,
    publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString(),
    spkiSha256: sha256Hex(spki),
    keyDescription,
  };
}
