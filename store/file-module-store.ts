/** The module store as files: `<dir>/<sha256>.wasm`, written to a temporary name then renamed. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, WasmbedError } from '../common/errors.js';
import { checkModuleRef, sha256Hex, type ModuleStore } from './module-store.js';

export class FileModuleStore implements ModuleStore {
  constructor(readonly dir: string) {}

  private file(sha256: string): string {
    return path.join(this.dir, `${checkModuleRef(sha256)}.wasm`);
  }

  async put(bytes: Uint8Array): Promise<{ sha256: string; size: number }> {
    const sha256 = sha256Hex(bytes);
    const file = this.file(sha256);
    if (!(await exists(file))) {
      await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
      // Unique per call: two puts of the same module may interleave in one process.
      const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      await fs.writeFile(tmp, bytes);
      await fs.rename(tmp, file);
    }
    return { sha256, size: bytes.length };
  }

  async get(sha256: string): Promise<Buffer> {
    const file = this.file(sha256);
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError('Module', sha256);
      throw err;
    }
    if (sha256Hex(bytes) !== sha256) {
      throw new WasmbedError('ModuleCorrupted', `module ${sha256} on disk does not match its hash`);
    }
    return bytes;
  }

  async has(sha256: string): Promise<boolean> {
    return exists(this.file(sha256));
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}
