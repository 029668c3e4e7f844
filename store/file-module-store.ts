/**
 * The module store as files: `<dir>/<sha256>.wasm`, written to a temporary name then renamed. A
 * file's mtime is when the module was last stored.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, WasmbedError } from '../common/errors.js';
import { checkModuleRef, sha256Hex, type ModuleStore, type StoredModule } from './module-store.js';

const MODULE_FILE = /^([0-9a-f]{64})\.wasm$/;

export class FileModuleStore implements ModuleStore {
  constructor(readonly dir: string) {}

  private file(sha256: string): string {
    return path.join(this.dir, `${checkModuleRef(sha256)}.wasm`);
  }

  async put(bytes: Uint8Array): Promise<{ sha256: string; size: number }> {
    const sha256 = sha256Hex(bytes);
    const file = this.file(sha256);
    const now = new Date();
    try {
      await fs.utimes(file, now, now);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
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

  async list(): Promise<StoredModule[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const listed: StoredModule[] = [];
    for (const name of names) {
      const sha256 = MODULE_FILE.exec(name)?.[1];
      if (!sha256) continue; // (a put's temporary file, or one being removed)
      try {
        const stat = await fs.stat(path.join(this.dir, name));
        listed.push({ sha256, size: stat.size, storedAt: stat.mtime });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // removed meanwhile
      }
    }
    return listed;
  }

  async remove(listed: StoredModule): Promise<boolean> {
    const file = this.file(listed.sha256);
    // Moved aside before its time is read: a put meanwhile finds no file and writes it anew, and
    // one that came just before the move is seen in the time and the file goes back.
    const aside = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.removing`;
    try {
      await fs.rename(file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    if ((await fs.stat(aside)).mtime.getTime() > listed.storedAt.getTime()) {
      await fs.rename(aside, file); // (a put's new file, if any, has the same bytes)
      return false;
    }
    await fs.rm(aside, { force: true });
    return true;
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
