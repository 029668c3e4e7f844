/**
 * dist/ holds bundles keyed by source hash (workflow code, the virtual device). Every edit makes
 * a new one, so without pruning dist/ grows for ever on a developer's machine. The newest few are
 * kept, not only the current one: a worker or device started from the previous sources may still
 * be running from its bundle.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Leftovers of builds that crashed before their rename are removed after this long. */
const ABANDONED_TMP_MS = 60 * 60_000;

/**
 * Removes `<dir>/<prefix>*` entries beyond the `keep` most recently modified, never `current`.
 * Best effort: a file another process removes first, or cannot be removed, is left alone.
 */
export function pruneOldBuilds(dir: string, prefix: string, current: string, keep = 3): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((name) => name.startsWith(prefix));
  } catch {
    return [];
  }
  const now = Date.now();
  const entries = names.flatMap((name) => {
    try {
      return [{ name, mtimeMs: fs.statSync(path.join(dir, name)).mtimeMs }];
    } catch {
      return [];
    }
  });
  const builds = entries.filter((e) => !e.name.endsWith('.tmp')).sort((a, b) => b.mtimeMs - a.mtimeMs);
  const currentName = path.basename(current);
  const kept = new Set([currentName, ...builds.slice(0, keep).map((e) => e.name)]);
  const doomed = [
    ...builds.filter((e) => !kept.has(e.name)),
    ...entries.filter((e) => e.name.endsWith('.tmp') && now - e.mtimeMs > ABANDONED_TMP_MS),
  ];
  const removed: string[] = [];
  for (const { name } of doomed) {
    try {
      fs.rmSync(path.join(dir, name), { recursive: true, force: true });
      removed.push(name);
    } catch {
      // Still in use or already gone: the next build tries again.
    }
  }
  return removed;
}
