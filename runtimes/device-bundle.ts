/**
 * The virtual device runs from a prebuilt bundle rather than through tsx: a device process
 * then starts in tens of milliseconds instead of half a second of CPU, which is what lets
 * dozens of devices boot at once on a small machine. Cached by source hash, like the
 * workflow bundle.
 */
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { pruneOldBuilds } from '../common/build-cache.js';
import { REPO_ROOT } from '../common/repo-root.js';
import { sourceHash } from '../common/source-hash.js';

const DEVICE_SOURCE_DIRS = ['device', 'device/apps', 'protocol', 'common'];
/** Worker threads' entry points, bundled beside main.mjs (the runtime finds them next to itself). */
const WORKER_ENTRIES = ['device/apps/app-thread.mjs', 'device/apps/transform-worker.mjs'];

export async function ensureDeviceBundle(): Promise<string> {
  const dir = path.join(
    REPO_ROOT,
    'dist',
    `device-${sourceHash(DEVICE_SOURCE_DIRS, { recursive: false, matches: /\.(ts|mjs|json)$/ })}`,
  );
  const entry = path.join(dir, 'main.mjs');
  if (fs.existsSync(entry)) return entry;
  const tmp = `${dir}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await build({
    // The transform worker takes Binaryen along: the bundle (and the Docker image built from
    // it) has no node_modules.
    entryPoints: [
      { in: path.join(REPO_ROOT, 'device', 'main.ts'), out: 'main' },
      ...WORKER_ENTRIES.map((e) => ({ in: path.join(REPO_ROOT, e), out: path.basename(e, '.mjs') })),
    ],
    outdir: tmp,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    // Some dependencies are CommonJS and call require(); give the ESM bundle one.
    banner: {
      js: "import { createRequire as __wasmbedRequire } from 'node:module'; const require = __wasmbedRequire(import.meta.url);",
    },
  });
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    // Another process built the same bundle first: theirs is identical.
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(entry)) throw err;
  }
  pruneOldBuilds(path.dirname(dir), 'device-', dir);
  return entry;
}
