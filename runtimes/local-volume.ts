/**
 * Device volumes on the local filesystem (`<home>/volumes/<device>/`), shared by the
 * runtimes that run emulators as local processes: virtual, qemu, renode.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { paths } from '../common/config.js';
import { WasmbedError, ValidationError } from '../common/errors.js';
import {
  DEFAULT_DEVICE_KEY_TYPE,
  describeKey,
  generatePrivateKey,
  isAcceptedKey,
  isPrivateKeyPem,
} from '../pki/keys.js';
import { publicKeyInfo, type PublicKeyInfo } from '../pki/public-key.js';
import { isAlive } from './process-table.js';
import type { DeviceKey } from './runtime.js';

export class FirmwareError extends WasmbedError {}

export const sha256 = (data: Buffer | string): string =>
  crypto.createHash('sha256').update(data).digest('hex');

/** `<file>.<pid of the writer>.<random>.tmp`: a file being written, until its rename or link. */
const temporaryFor = (file: string) => `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
const TEMPORARY = /\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/** Writes through a temporary file and a rename, so readers never see half a file. */
export function writeAtomically(file: string, data: Buffer | string, mode = 0o600): void {
  const tmp = temporaryFor(file);
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}

/**
 * Creates the volume, and removes the temporary files a writer killed mid-write left in it (a
 * host killed with SIGKILL): a memory image's or a key's would be a second copy of the device's
 * private key. Only those of processes that are gone: a live writer's file is its own.
 */
export function prepareVolume(volume: string): string {
  fs.mkdirSync(volume, { recursive: true, mode: 0o700 });
  for (const name of fs.readdirSync(volume)) {
    const writer = Number(TEMPORARY.exec(name)?.[1]);
    if (writer && writer !== process.pid && !isAlive(writer))
      fs.rmSync(path.join(volume, name), { force: true });
  }
  return volume;
}

/** Names of the devices that have a volume under `home`. */
export function volumeDevices(home: string): string[] {
  const volumes = paths.volumes(home);
  return fs.existsSync(volumes) ? fs.readdirSync(volumes) : [];
}

/** Reads a firmware image the user named, with an error naming the field when it is not there. */
export function readFirmwareSource(source: string, kind?: 'ELF'): Buffer {
  if (!fs.existsSync(source))
    throw new ValidationError('firmware', `firmware image "${source}" does not exist`);
  const data = fs.readFileSync(source);
  if (kind === 'ELF' && data.subarray(0, 4).toString('latin1') !== '\x7fELF') {
    throw new ValidationError('firmware', `firmware image "${source}" is not an ELF file`);
  }
  return data;
}

/**
 * Copies firmware into a volume and verifies the copy by SHA-256; a copy that is already
 * there and correct is kept (idempotent).
 */
export function copyFirmwareVerified(
  device: string,
  data: Buffer,
  target: string,
): { sha256: string; bytes: number } {
  const expected = sha256(data);
  if (fs.existsSync(target) && sha256(fs.readFileSync(target)) === expected) {
    return { sha256: expected, bytes: data.length };
  }
  writeAtomically(target, data, 0o644);
  const actual = sha256(fs.readFileSync(target));
  if (actual !== expected) {
    fs.rmSync(target, { force: true });
    throw new FirmwareError(
      'FirmwareCorrupted',
      `firmware copy of ${device} has sha256 ${actual}, expected ${expected}`,
    );
  }
  return { sha256: expected, bytes: data.length };
}

/** The device's private key in its volume (PKCS#8 PEM, mode 0600). */
export const DEVICE_KEY_FILE = 'device.key';

/**
 * The device's key pair, kept in its volume like a board keeps its key in its own storage:
 * made on first use (EC P-256) and kept from then on, whatever its type (a device that was given
 * an RSA key keeps it). Published with link(2) so two racing attempts end with one key. The
 * private key goes from here into the device's memory image and nowhere else: not into the
 * store, not into a log.
 */
export function ensureDeviceKey(volume: string): DeviceKey {
  prepareVolume(volume);
  const file = path.join(volume, DEVICE_KEY_FILE);
  if (!fs.existsSync(file)) {
    const key = generatePrivateKey(DEFAULT_DEVICE_KEY_TYPE);
    const pem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
    publicKeyInfo(key, pem); // read back below and by the certificate's issue: not parsed again
    const tmp = temporaryFor(file);
    try {
      fs.writeFileSync(tmp, pem, { mode: 0o600, flag: 'wx' });
      fs.linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // another attempt's key won
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  return deviceKeyFrom(fs.readFileSync(file, 'utf8'), file);
}

/** Checks a device key read from a volume; `where` names it in the error. */
export function deviceKeyFrom(keyPem: string, where: string): DeviceKey {
  let publicHalf: PublicKeyInfo;
  try {
    // (A key this host made or read lately is remembered: pki/public-key.ts.)
    if (!isPrivateKeyPem(keyPem)) throw new Error('no PRIVATE KEY block');
    publicHalf = publicKeyInfo(keyPem);
  } catch (cause) {
    throw new WasmbedError('DeviceKeyInvalid', `device key ${where} is not a PEM private key`, { cause });
  }
  if (!isAcceptedKey(publicHalf.key)) {
    throw new WasmbedError(
      'DeviceKeyInvalid',
      `device key ${where} is ${describeKey(publicHalf.key)}; expected EC P-256 or RSA of 2048-8192 bits`,
    );
  }
  return { keyPem, publicKeyPem: publicHalf.pem };
}
