/**
 * A hash of source files, their names and contents: the key of a build made from them (the
 * workflow bundle, the virtual device's bundle) and the code version a device host runs
 * (host/code-version.ts). One walk for all three, so they agree on what "the same sources" means.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './repo-root.js';

export interface SourceHashOptions {
  /** Walk each directory's subdirectories too. */
  recursive: boolean;
  /** Which files of a directory count (files named directly always do). */
  matches: RegExp;
}

/** 16 hex digits over `entries` (directories or files, relative to the repository; missing ones skipped). */
export function sourceHash(entries: readonly string[], options: SourceHashOptions): string {
  const hash = crypto.createHash('sha256');
  const add = (file: string) => hash.update(file).update(fs.readFileSync(path.join(REPO_ROOT, file)));
  const visit = (dir: string) => {
    const children = fs
      .readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of children) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (options.recursive) visit(file);
      } else if (options.matches.test(entry.name)) add(file);
    }
  };
  for (const entry of entries) {
    const stat = fs.statSync(path.join(REPO_ROOT, entry), { throwIfNoEntry: false });
    if (stat?.isDirectory()) visit(entry);
    else if (stat) add(entry);
  }
  return hash.digest('hex').slice(0, 16);
}
