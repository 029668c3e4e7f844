/**
 * "The platform never had the board's private key": scans a data dir for a key's bytes. Shared
 * by the enrollment tests of the TypeScript board and of the C firmware.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Every file under `dir`; entries that vanish while we walk (journals, temporaries) are skipped. */
export function filesUnder(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries.flatMap((e) =>
    e.isDirectory() ? filesUnder(path.join(dir, e.name)) : e.isFile() ? [path.join(dir, e.name)] : [],
  );
}

/**
 * The files under `dir` that hold the private key of `keyPem`: its first PEM body line, or the
 * first 16 bytes of the private scalar however it is encoded around it. `scanned` lists every
 * file looked at, so a caller can check the scan saw what it should (e.g. the database).
 */
export function filesHoldingKey(dir: string, keyPem: string): { holding: string[]; scanned: string[] } {
  const jwk = crypto.createPrivateKey(keyPem).export({ format: 'jwk' });
  const scalar = Buffer.from(jwk.d!, 'base64url').subarray(0, 16);
  const pemLine = keyPem.split('\n')[1]!;
  const scanned = filesUnder(dir);
  const holding = scanned.filter((file) => {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (err) {
      // SQLite and Temporal create and remove journal files as they go: gone is fine.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    return bytes.includes(pemLine) || bytes.includes(scalar);
  });
  return { holding, scanned };
}
