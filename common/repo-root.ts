import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository checkout, for locating tools and entry points. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
