#!/usr/bin/env node
/**
 * Builds the example apps into examples/apps/dist/<name>.wasm:
 *   - examples/apps/<name>/main.ts: AssemblyScript (npm package `assemblyscript`);
 *   - examples/apps/<name>/*.c: C, with clang --target=wasm32 and wasm-ld (Debian's clang + lld,
 *     installed by scripts/setup.mjs), no libc, host API from examples/apps/lib/wasmbed.h.
 * Idempotent: an output newer than its sources, the shared library (examples/apps/lib), this
 * script and the compiler is skipped. Outputs are written to a temporary file and renamed, so
 * concurrent builds are harmless. Without clang, the C apps are not built and the build says
 * why: it fails when a C app was asked for by name (and the CLI exits non-zero), so a test that
 * needs one fails with that message instead of skipping.
 *
 *   node scripts/build-apps.mjs            build what is out of date
 *   node scripts/build-apps.mjs --force    rebuild everything
 *   node scripts/build-apps.mjs hello      only the named apps
 *
 * Also importable: `import { buildApps } from './scripts/build-apps.mjs'`.
 */
import { spawnSync } from 'node:child_process';
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

/**
 * clang flags every C app is built with (see docs/host-api.md, "Building apps"): no libc, no
 * wasm start function; `_start` is the exported entry; one 64 KiB page of memory (stack
 * included) and no declared maximum, so the device's per-app limit becomes the maximum. wasm-ld
 * keeps the name section, so trap reasons name the app's function.
 */
const CLANG_FLAGS = [
  '--target=wasm32',
  '-O2',
  '-nostdlib',
  '-ffreestanding',
  '-Wall',
  '-Werror',
  '-Wl,--no-entry',
  '-Wl,--export=_start',
  '-Wl,-z,stack-size=8192',
  '-Wl,--initial-memory=65536',
];
const CLANG = process.env.CLANG ?? 'clang';

/** What is wrong with the C toolchain, or null when clang can build wasm32 and link it. */
export function cToolchainProblem() {
  const fix =
    "install Debian's clang and lld (apt-get install clang lld; node scripts/setup.mjs does it as root)";
  const clang = spawnSync(CLANG, ['-print-targets'], { encoding: 'utf8' });
  if (clang.error || clang.status !== 0)
    return `C apps need clang, which is not installed (${CLANG}): ${fix}`;
  if (!/\bwasm32\b/.test(clang.stdout)) return `${CLANG} has no wasm32 target: ${fix}`;
  const lld = spawnSync(CLANG, ['--target=wasm32', '-print-prog-name=wasm-ld'], { encoding: 'utf8' });
  const ld = lld.stdout?.trim() || 'wasm-ld';
  const probe = spawnSync(ld, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0)
    return `C apps need wasm-ld (from lld), which is not installed: ${fix}`;
  return null;
}

const kindOf = (srcDir) => {
  if (fs.existsSync(path.join(srcDir, 'main.ts'))) return 'assemblyscript';
  if (fs.existsSync(srcDir) && fs.readdirSync(srcDir).some((f) => f.endsWith('.c'))) return 'c';
  return null;
};

/** The app names: folders of examples/apps with a main.ts or C sources. */
export function listApps() {
  return fs
    .readdirSync(APPS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'dist' && kindOf(path.join(APPS_DIR, d.name)))
    .map((d) => d.name)
    .sort();
}

/** Compiles a C app's sources into one module; throws with clang's output on failure. */
function buildC(name, srcDir, file) {
  const sources = fs
    .readdirSync(srcDir)
    .filter((f) => f.endsWith('.c'))
    .sort()
    .map((f) => path.join(srcDir, f));
  const tmp = `${file}.${process.pid}.tmp`;
  const res = spawnSync(CLANG, [...CLANG_FLAGS, '-I', path.join(APPS_DIR, 'lib'), '-o', tmp, ...sources], {
    encoding: 'utf8',
  });
  if (res.error || res.status !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`building ${name} failed (clang):\n${res.error?.message ?? ''}${res.stderr}`);
  }
  fs.renameSync(tmp, file);
  return fs.statSync(file).size;
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
 * Builds the apps (all, or `only`) that are out of date. Without a C toolchain, C apps are
 * left out with an `error` when building all, and make the build throw when named in `only`.
 * @returns {Promise<Array<{ name: string; file: string; built: boolean; bytes: number; error?: string }>>}
 */
export async function buildApps({ force = false, only = [], log = (line) => console.log(line) } = {}) {
  const names = only.length > 0 ? only : listApps();
  const ascPkg = path.join(ROOT, 'node_modules', 'assemblyscript', 'package.json');
  const shared = newestMtime([path.join(APPS_DIR, 'lib'), here, ascPkg]);
  fs.mkdirSync(DIST_DIR, { recursive: true });
  let asc;
  let cProblem;
  const results = [];
  for (const name of names) {
    const srcDir = path.join(APPS_DIR, name);
    const kind = kindOf(srcDir);
    if (!kind) throw new Error(`no app ${name} (${srcDir}/main.ts or ${srcDir}/*.c)`);
    const file = path.join(DIST_DIR, `${name}.wasm`);
    const out = fs.statSync(file, { throwIfNoEntry: false });
    const inputs =
      kind === 'c' ? newestMtime([srcDir, path.join(APPS_DIR, 'lib'), here]) : newestMtime([srcDir]);
    if (!force && out && out.mtimeMs >= Math.max(kind === 'c' ? 0 : shared, inputs)) {
      log(`${name}: up to date`);
      results.push({ name, file, built: false, bytes: out.size });
      continue;
    }
    if (kind === 'c') {
      if (cProblem === undefined) cProblem = cToolchainProblem();
      if (cProblem) {
        const error = `${name}: not built: ${cProblem}`;
        if (only.includes(name)) throw new Error(error);
        log(error);
        results.push({ name, file, built: false, bytes: 0, error });
        continue;
      }
      const bytes = buildC(name, srcDir, file);
      log(`${name}: built ${path.relative(ROOT, file)} (${bytes} bytes, clang)`);
      results.push({ name, file, built: true, bytes });
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
  buildApps({ force, only }).then(
    (results) => {
      if (results.some((r) => r.error)) process.exit(1); // already said why
    },
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
