/**
 * Content-addressed store for WebAssembly modules: `<home>/modules/<sha256>.wasm`.
 * Applications refer to modules by hash, so workflow histories carry 64 characters, not
 * kilobytes, and every reader verifies what it got.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { NotFoundError, WasmbedError } from '../common/errors.js';

export const sha256Hex = (bytes: Uint8Array) => crypto.createHash('sha256').update(bytes).digest('hex');

export class ModuleStore {
  constructor(readonly dir: string) {}

  private file(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256))
      throw new WasmbedError('InvalidModuleRef', `"${sha256}" is not a sha256 hex digest`);
    return path.join(this.dir, `${sha256}.wasm`);
  }

  put(bytes: Uint8Array): { sha256: string; size: number } {
    const sha256 = sha256Hex(bytes);
    const file = this.file(sha256);
    if (!fs.existsSync(file)) {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, bytes);
      fs.renameSync(tmp, file);
    }
    return { sha256, size: bytes.length };
  }

  get(sha256: string): Buffer {
    const file = this.file(sha256);
    if (!fs.existsSync(file)) throw new NotFoundError('Module', sha256);
    const bytes = fs.readFileSync(file);
    if (sha256Hex(bytes) !== sha256) {
      throw new WasmbedError('ModuleCorrupted', `module ${sha256} on disk does not match its hash`);
    }
    return bytes;
  }

  has(sha256: string): boolean {
    return fs.existsSync(this.file(sha256));
  }
}
