/**
 * Content-addressed store for WebAssembly modules. Applications refer to modules by hash, so
 * workflow histories carry 64 characters, not kilobytes, and every reader verifies what it got.
 * On disk: store/file-module-store.ts.
 */
import crypto from 'node:crypto';
import { WasmbedError } from '../common/errors.js';

export const sha256Hex = (bytes: Uint8Array) => crypto.createHash('sha256').update(bytes).digest('hex');

/** Throws InvalidModuleRef unless `sha256` is a lowercase sha256 hex digest. */
export function checkModuleRef(sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256))
    throw new WasmbedError('InvalidModuleRef', `"${sha256}" is not a sha256 hex digest`);
  return sha256;
}

/** A module as the store lists it: `storedAt` is when it was last put. */
export interface StoredModule {
  sha256: string;
  size: number;
  storedAt: Date;
}

export interface ModuleStore {
  /**
   * Stores the module (once: the same bytes again are not written twice) and records it as stored
   * now; returns its reference.
   */
  put(bytes: Uint8Array): Promise<{ sha256: string; size: number }>;
  /** The module's bytes, verified against the hash; NotFoundError if absent, ModuleCorrupted if altered. */
  get(sha256: string): Promise<Buffer>;
  has(sha256: string): Promise<boolean>;
  /** Every module stored. */
  list(): Promise<StoredModule[]>;
  /**
   * Removes a module as `list` gave it, unless it was stored again since (an Application took it
   * up meanwhile); true when it removed it. One already gone is no error: two collectors may race.
   */
  remove(listed: StoredModule): Promise<boolean>;
}
