/**
 * The virtual device runs from a prebuilt bundle rather than through tsx: a device process
 * then starts in tens of milliseconds instead of half a second of CPU, which is what lets
 * dozens of devices boot at once on a small machine. Cached by source hash, like the
 * workflow bundle.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { pruneOldBuilds } from '../common/build-cache.js';
import { REPO_ROOT } from '../common/repo-root.js';

const DEVICE_SOURCE_DIRS = ['device', 'device/apps', 'protocol', 'common'];
/** Files loaded at run time next to the bundle (worker threads), copied beside it. */
const RUNTIME_ASSETS = ['device/apps/app-worker.mjs'];

function sourceHash(): string {
  const hash = crypto.createHash('sha256');
  for (const dir of DEVICE_SOURCE_DIRS) {
    const abs = path.join(REPO_ROOT, dir);
    if (!fs.existsSync(abs)) continue;
    for (const file of fs.readdirSync(abs).sort()) {
      if (!/\.(ts|mjs|json)$/.test(file)) continue;
      hash.update(`${dir}/${file}`).update(fs.readFileSync(path.join(abs, file)));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

export async function ensureDeviceBundle(): Promise<string> {
  const dir = path.join(REPO_ROOT, 'dist', `device-${sourceHash()}`);
  const entry = path.join(dir, 'main.mjs');
  if (fs.existsSync(entry)) return entry;
  const tmp = `${dir}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await build({
    entryPoints: [path.join(REPO_ROOT, 'device', 'main.ts')],
    outfile: path.join(tmp, 'main.mjs'),
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
  for (const asset of RUNTIME_ASSETS) {
    const source = path.join(REPO_ROOT, asset);
    if (fs.existsSync(source)) fs.copyFileSync(source, path.join(tmp, path.basename(asset)));
  }
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
