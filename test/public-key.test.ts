/**
 * A key's public half (pki/public-key.ts): the same SPKI, PEM and KeyObject whichever form the key
 * comes in (private or public PEM, KeyObject; EC P-256 and RSA), worked out once per PEM for the
 * last MEMO_CAPACITY PEMs, and a clear error for what is not a key. Pure logic: real keys, no files.
 */
import crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { PkiError } from '../pki/errors.js';
import { MEMO_CAPACITY, publicKeyInfo } from '../pki/public-key.js';

const keyPair = (type: 'ec' | 'rsa') =>
  type === 'ec'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('publicKeyInfo', () => {
  it.each(['ec', 'rsa'] as const)('gives one answer for every form of a %s key', (type) => {
    const { privateKey, publicKey } = keyPair(type);
    const der = publicKey.export({ type: 'spki', format: 'der' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    for (const form of [
      privateKey,
      publicKey,
      privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      pem,
      type === 'rsa' ? publicKey.export({ type: 'pkcs1', format: 'pem' }).toString() : pem,
    ]) {
      const info = publicKeyInfo(form);
      expect(info.der.equals(der)).toBe(true);
      expect(info.pem).toBe(pem);
      expect(info.key.type).toBe('public');
      expect(info.key.equals(publicKey)).toBe(true);
    }
  });

  it('parses a PEM once, and the PEM a made key was written as not at all', () => {
    const { privateKey } = keyPair('ec');
    const written = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const parse = vi.spyOn(crypto, 'createPublicKey');
    try {
      const made = publicKeyInfo(privateKey, written);
      expect(parse).toHaveBeenCalledTimes(1); // the public half of the KeyObject
      expect(publicKeyInfo(written)).toBe(made);
      expect(publicKeyInfo(made.pem)).toBe(made);
      expect(parse).toHaveBeenCalledTimes(1);
    } finally {
      parse.mockRestore();
    }
  });

  it(`remembers the last ${MEMO_CAPACITY} PEMs, and works out an older one again`, () => {
    const first = keyPair('ec').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const answer = publicKeyInfo(first);
    expect(publicKeyInfo(first)).toBe(answer);
    for (let i = 0; i < MEMO_CAPACITY; i++) {
      publicKeyInfo(keyPair('ec').publicKey.export({ type: 'spki', format: 'pem' }).toString());
    }
    const again = publicKeyInfo(first);
    expect(again).not.toBe(answer);
    expect(again.der.equals(answer.der)).toBe(true);
  });

  it('names what is wrong with something that is not a key', () => {
    for (const notAKey of ['', 'not a key', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n']) {
      let thrown: unknown;
      try {
        publicKeyInfo(notAKey);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(PkiError);
      expect((thrown as PkiError).code).toBe('PkiInvalidCertificate');
      expect((thrown as PkiError).message).toMatch(/^not a valid public key: /);
      expect((thrown as PkiError).cause).toBeInstanceOf(Error);
    }
  });
});
