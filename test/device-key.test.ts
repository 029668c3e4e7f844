/**
 * The device's key in its volume (runtimes/local-volume.ts): made once as EC P-256 at 0600 and
 * kept; its public half is remembered by the key's content between provisioning's two reads, so
 * a key replaced in the volume — another accepted one, or garbage — is read for what it is.
 * Real files in a throwaway directory.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEVICE_KEY_FILE, ensureDeviceKey } from '../runtimes/local-volume.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function volume(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-device-key-'));
  dirs.push(dir);
  return dir;
}

/** The public half as Node derives it from the key file itself. */
const publicHalfOfFile = (dir: string) =>
  crypto
    .createPublicKey(fs.readFileSync(path.join(dir, DEVICE_KEY_FILE), 'utf8'))
    .export({ type: 'spki', format: 'pem' })
    .toString();

describe('the device key in its volume', () => {
  it('is made once as P-256 at 0600 and read back the same, with its own public half', () => {
    const dir = volume();
    const made = ensureDeviceKey(dir);
    const file = path.join(dir, DEVICE_KEY_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(crypto.createPrivateKey(made.keyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(made.keyPem).toBe(fs.readFileSync(file, 'utf8'));
    expect(made.publicKeyPem).toBe(publicHalfOfFile(dir));
    expect(ensureDeviceKey(dir)).toEqual(made);
  });

  it('reads a key replaced in the volume for what it is: another accepted key, or an error naming the file', () => {
    const dir = volume();
    const first = ensureDeviceKey(dir);
    const file = path.join(dir, DEVICE_KEY_FILE);
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    fs.writeFileSync(file, rsa.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const replaced = ensureDeviceKey(dir);
    expect(replaced.publicKeyPem).not.toBe(first.publicKeyPem);
    expect(replaced.publicKeyPem).toBe(publicHalfOfFile(dir));

    fs.writeFileSync(file, 'not a key\n', { mode: 0o600 });
    expect(() => ensureDeviceKey(dir)).toThrow(`device key ${file} is not a PEM private key`);
    const weak = crypto.generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
    fs.writeFileSync(file, weak.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    expect(() => ensureDeviceKey(dir)).toThrow(/expected EC P-256 or RSA/);
    // The first key back: read as before.
    fs.writeFileSync(file, first.keyPem, { mode: 0o600 });
    expect(ensureDeviceKey(dir)).toEqual(first);
    // Its public half alone is no device key, though it names a key the host remembers.
    fs.writeFileSync(file, first.publicKeyPem, { mode: 0o600 });
    expect(() => ensureDeviceKey(dir)).toThrow(`device key ${file} is not a PEM private key`);
  });
});
