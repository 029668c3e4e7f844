import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pruneOldBuilds } from '../common/build-cache.js';

let dir: string;
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function touch(name: string, ageMs: number, kind: 'file' | 'dir' = 'file'): void {
  const full = path.join(dir, name);
  if (kind === 'dir') {
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, 'main.mjs'), '');
  } else fs.writeFileSync(full, '');
  const when = new Date(Date.now() - ageMs);
  fs.utimesSync(full, when, when);
}

describe('pruneOldBuilds', () => {
  it('keeps the current build and the newest others, removes older ones and abandoned temporaries', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-dist-'));
    touch('device-aaaa', 5_000, 'dir');
    touch('device-bbbb', 4_000, 'dir');
    touch('device-cccc', 3_000, 'dir');
    touch('device-dddd', 2_000, 'dir');
    touch('device-old0', 10_000_000, 'dir'); // the current one may be old: it is never removed
    touch('device-eeee.123.tmp', 2 * 3_600_000, 'dir');
    touch('device-ffff.456.tmp', 1_000, 'dir'); // a build in progress
    touch('workflow-bundle-1111.js', 9_000_000); // another prefix: untouched

    const removed = pruneOldBuilds(dir, 'device-', path.join(dir, 'device-old0'), 2);

    expect(removed.sort()).toEqual(['device-aaaa', 'device-bbbb', 'device-eeee.123.tmp']);
    expect(fs.readdirSync(dir).sort()).toEqual([
      'device-cccc',
      'device-dddd',
      'device-ffff.456.tmp',
      'device-old0',
      'workflow-bundle-1111.js',
    ]);
  });

  it('does nothing when the directory does not exist', () => {
    dir = path.join(os.tmpdir(), `wasmbed-missing-${process.pid}`);
    expect(pruneOldBuilds(dir, 'device-', path.join(dir, 'device-x'))).toEqual([]);
  });
});
