/**
 * Device volumes on the local filesystem (`<home>/volumes/<device>/`), shared by the
 * runtimes that run emulators as local processes: virtual, qemu, renode.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { paths } from '../common/config.js';
import { WasmbedError, ValidationError } from '../common/errors.js';

export class FirmwareError extends WasmbedError {}

export const sha256 = (data: Buffer | string): string =>
  crypto.createHash('sha256').update(data).digest('hex');

/** Writes through a temporary file and a rename, so readers never see half a file. */
export function writeAtomically(file: string, data: Buffer | string, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}

export function prepareVolume(volume: string): string {
  fs.mkdirSync(volume, { recursive: true, mode: 0o700 });
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
