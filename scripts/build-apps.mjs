#!/usr/bin/env node
/**
 * Builds the example apps: examples/apps/<name>/main.ts (AssemblyScript, npm package
 * `assemblyscript`) → examples/apps/dist/<name>.wasm. Idempotent: an output newer than its
 * sources, the shared library (examples/apps/lib), this script and the compiler is skipped.
 * Outputs are written to a temporary file and renamed, so concurrent builds are harmless.
 *
 *   node scripts/build-apps.mjs            build what is out of date
 *   node scripts/build-apps.mjs --force    rebuild everything
 *   node scripts/build-apps.mjs hello      only the named apps
 *
 * Also importable: `import { buildApps } from './scripts/build-apps.mjs'`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(import.meta.url);
export const ROOT = path.resolve(path.dirname(here), '..');
export const APPS_DIR = path.join(ROOT, 'examples', 'apps');
export const DIST_DIR = path.join(APPS_DIR, 'dist');

/** asc flags every app is built with (see docs/host-api.md, "Building apps"). */
const ASC_FLAGS = [
  '--optimize',
  // Keep the name section: trap reasons then name the app's function.
  '--debug',
  '--runtime',
  'incremental',
  // Top-level code runs from an exported _initialize (called by the host before the entry)
  // instead of a wasm start function, so it may already use the host API.
  '--exportStart',
  '_initialize',
  // AssemblyScript's abort goes to the app's own handler (log + trap), not an "env" import.
  '--use',
  'abort=lib/wasmbed/wasmbedAbort',
];

/** The app names: folders of examples/apps with a main.ts. */
export function listApps() {
  return fs
    .readdirSync(APPS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(APPS_DIR, d.name, 'main.ts')))
    .map((d) => d.name)
    .sort();
}

function newestMtime(paths) {
  let newest = 0;
  for (const p of paths) {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) {
      newest = Math.max(newest, newestMtime(fs.readdirSync(p).map((f) => path.join(p, f))));
    } else {
      newest = Math.max(newest, st.mtimeMs);
    }
  }
  return newest;
}

/**
 * Builds the apps (all, or `only`) that are out of date.
 * @returns {Promise<Array<{ name: string; file: string; built: boolean; bytes: number }>>}
 */
export async function buildApps({ force = false, only = [], log = (line) => console.log(line) } = {}) {
  const names = only.length > 0 ? only : listApps();
  const ascPkg = path.join(ROOT, 'node_modules', 'assemblyscript', 'package.json');
  const shared = newestMtime([path.join(APPS_DIR, 'lib'), here, ascPkg]);
  fs.mkdirSync(DIST_DIR, { recursive: true });
  let asc;
  const results = [];
  for (const name of names) {
    const srcDir = path.join(APPS_DIR, name);
    if (!fs.existsSync(path.join(srcDir, 'main.ts'))) throw new Error(`no app ${name} (${srcDir}/main.ts)`);
    const file = path.join(DIST_DIR, `${name}.wasm`);
    const out = fs.statSync(file, { throwIfNoEntry: false });
    if (!force && out && out.mtimeMs >= Math.max(shared, newestMtime([srcDir]))) {
      log(`${name}: up to date`);
      results.push({ name, file, built: false, bytes: out.size });
      continue;
    }
    asc ??= (await import('assemblyscript/asc')).default;
    let binary = null;
    const stderr = [];
    const { error } = await asc.main(
      [`${name}/main.ts`, '--baseDir', APPS_DIR, '--outFile', `${name}.wasm`, ...ASC_FLAGS],
      {
        writeFile(filename, contents) {
          if (filename.endsWith('.wasm')) binary = contents;
        },
        stdout: { write: () => true },
        stderr: { write: (chunk) => (stderr.push(String(chunk)), true) },
      },
    );
    if (error || !binary) {
      throw new Error(`building ${name} failed: ${error?.message ?? 'no output'}\n${stderr.join('')}`);
    }
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, binary);
    fs.renameSync(tmp, file);
    log(`${name}: built ${path.relative(ROOT, file)} (${binary.length} bytes)`);
    results.push({ name, file, built: true, bytes: binary.length });
  }
  return results;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const force = args.includes('--force');
  const only = args.filter((a) => !a.startsWith('--'));
  buildApps({ force, only }).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
