/**
 * The key types the platform generates, and the checks on keys others bring. Keys come from
 * Node's native generator (OpenSSL): an EC P-256 pair takes well under a millisecond, an
 * RSA-2048 pair tens to hundreds (bench/key-issuance.ts measures both).
 */
import crypto from 'node:crypto';
import { ValidationError, errorMessage } from '../common/errors.js';
import { PkiError } from './errors.js';
import { publicKeyInfo } from './public-key.js';

/** `p256`: ECDSA on NIST P-256 (prime256v1), the default for devices; `rsa2048`: RSA, 2048 bits. */
export type KeyType = 'p256' | 'rsa2048';
export const KEY_TYPES: readonly KeyType[] = ['p256', 'rsa2048'];
export const DEFAULT_DEVICE_KEY_TYPE: KeyType = 'p256';

export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 8192;

export function isKeyType(value: unknown): value is KeyType {
  return typeof value === 'string' && (KEY_TYPES as readonly string[]).includes(value);
}

export function generatePrivateKey(type: KeyType): crypto.KeyObject {
  return type === 'p256'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 }).privateKey;
}

/** The same off the main thread (libuv's pool), for the CA's own key. */
export function generatePrivateKeyAsync(type: KeyType): Promise<crypto.KeyObject> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _pub: crypto.KeyObject, priv: crypto.KeyObject) =>
      err ? reject(err) : resolve(priv);
    if (type === 'p256') crypto.generateKeyPair('ec', { namedCurve: 'prime256v1' }, done);
    else crypto.generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 }, done);
  });
}

/** "EC prime256v1", "RSA-2048": how keys are named in messages and enrollment records. */
export function describeKey(key: crypto.KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `RSA-${details.modulusLength}`;
  if (key.asymmetricKeyType === 'ec') return `EC ${details.namedCurve}`;
  return String(key.asymmetricKeyType);
}

/** RSA of 2048 to 8192 bits, or EC P-256: what devices and CAs may hold. */
export function isAcceptedKey(key: crypto.KeyObject): boolean {
  const details = key.asymmetricKeyDetails ?? {};
  const bits = details.modulusLength ?? 0;
  return (
    (key.asymmetricKeyType === 'rsa' && bits >= RSA_MIN_BITS && bits <= RSA_MAX_BITS) ||
    (key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1')
  );
}

export const ACCEPTED_KEYS = `RSA ${RSA_MIN_BITS}-${RSA_MAX_BITS} bits or EC P-256`;

/** True for a PEM with a private key block (PKCS#8, PKCS#1, SEC1, encrypted or not). */
export const isPrivateKeyPem = (pem: string): boolean => /PRIVATE KEY-----/.test(pem);

/** A device's own public key (PEM: SPKI or PKCS#1); returns it as a KeyObject. */
export function validateDevicePublicKey(field: string, pem: unknown): crypto.KeyObject {
  if (typeof pem !== 'string' || isPrivateKeyPem(pem)) {
    throw new ValidationError(field, `${field} must be a PEM public key (never a private key)`);
  }
  let key: crypto.KeyObject;
  try {
    key = publicKeyInfo(pem).key; // the CA signs it next: that finds it remembered
  } catch (err) {
    const why = errorMessage(err instanceof PkiError ? err.cause : err);
    throw new ValidationError(field, `${field} is not a valid PEM public key: ${why}`, { cause: err });
  }
  if (!isAcceptedKey(key)) {
    throw new ValidationError(field, `${field} is a ${describeKey(key)} key; expected ${ACCEPTED_KEYS}`);
  }
  return key;
}
