/**
 * A key's public half — the KeyObject, its DER SubjectPublicKeyInfo (what a certificate carries,
 * and what spkiSha256 hashes: certificate-info.ts) and its PEM (what a device's credentials and the
 * CA's requests carry) — worked out once per key.
 *
 * Provisioning asks for the same device key's public half five times: when the host makes the
 * key, when it reads it back for the certificate, when the certificate is issued (the CA checks
 * the key and signs its SPKI) and again at the endpoint write (issue() is idempotent and looks the
 * key up again). OpenSSL takes 0.05–0.35 ms to parse a PEM key or export one (a P-256 public PEM
 * 0.12 ms, a private one 0.33 ms, the DER SPKI 0.10 ms): about 0.7 ms a device, 0.2 ms with the
 * answers remembered (BENCHMARKS.md, "A key's public half, once"). So they are remembered by
 * the PEM they were asked for (a private key's PEM and its public PEM both lead to the same
 * entry), for the last MEMO_CAPACITY PEMs: a burst's worth. The memo is keyed by the PEM's
 * SHA-256, so it keeps no private key in memory after its caller let go of it.
 */
import crypto from 'node:crypto';
import { errorMessage } from '../common/errors.js';
import { PkiError } from './errors.js';

export interface PublicKeyInfo {
  key: crypto.KeyObject;
  /** DER SubjectPublicKeyInfo, byte for byte as a certificate for the key carries it. */
  der: Buffer;
  pem: string;
}

export const MEMO_CAPACITY = 1024;

/** By the SHA-256 of a PEM, least recently used first. */
const byPem = new Map<string, PublicKeyInfo>();
const memoKey = (pem: string) => crypto.createHash('sha256').update(pem).digest('base64');

/**
 * The public half of `key`: a PEM (public, or private: its public half) or a KeyObject (either).
 * `writtenAs`: the PEM a KeyObject was just exported as (a key the caller made), remembered with
 * it so that reading that PEM back parses nothing. Throws PkiError when `key` is not a key.
 */
export function publicKeyInfo(key: string | crypto.KeyObject, writtenAs?: string): PublicKeyInfo {
  if (typeof key === 'string') {
    const id = memoKey(key);
    const known = byPem.get(id);
    if (known) {
      byPem.delete(id); // most recently used now
      byPem.set(id, known);
      return known;
    }
  }
  let info: PublicKeyInfo;
  try {
    const asObject = typeof key === 'string' ? crypto.createPublicKey(key) : key;
    const publicKey = asObject.type === 'private' ? crypto.createPublicKey(asObject) : asObject;
    const der = publicKey.export({ type: 'spki', format: 'der' });
    info = { key: publicKey, der, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
  } catch (err) {
    throw new PkiError('PkiInvalidCertificate', `not a valid public key: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  remember(info.pem, info);
  if (typeof key === 'string') remember(key, info);
  if (writtenAs !== undefined) remember(writtenAs, info);
  return info;
}

function remember(pem: string, info: PublicKeyInfo): void {
  const key = memoKey(pem);
  byPem.delete(key);
  byPem.set(key, info);
  if (byPem.size > MEMO_CAPACITY) byPem.delete(byPem.keys().next().value!);
}
