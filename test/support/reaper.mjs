/**
 * Cleans up after a test platform whose test run died without stopping it (vitest killed, a
 * Ctrl-C that reached only vitest, a benchmark killed with -9). Its processes would otherwise run
 * on: the device host and the emulators are detached on purpose (they outlive the worker in
 * production), and the worker they answer to lives on with no parent to stop it.
 *
 *   node test/support/reaper.mjs <watched pid> <dir>...
 *
 * Once the watched process is gone it SIGKILLs every process that belongs to one of the dirs
 * (the platform's home, a PostgreSQL cluster's root) — one that names it in its command line, has
 * it in its environment (WASMBED_HOME) or holds a file in it open (the Temporal dev server's
 * log) — and removes the dirs. test/support/platform.ts starts one per platform and stops it in
 * stop(). Plain JavaScript on node: built-ins, so it starts without a TypeScript loader.
 */
import fs from 'node:fs';
import path from 'node:path';

const [watched, ...dirs] = process.argv.slice(2);
const roots = dirs.map((dir) => path.resolve(dir));
if (!watched || roots.length === 0) {
  process.stderr.write('usage: node test/support/reaper.mjs <watched pid> <dir>...\n');
  process.exit(2);
}

const inside = (value) => roots.some((root) => value === root || value.startsWith(`${root}/`));

/** Whether process `pid` belongs to one of the dirs (it may be gone meanwhile: then no). */
function belongs(pid) {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (argv.some((arg) => roots.some((root) => arg.includes(root)))) return true;
    const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    if (environ.some((entry) => inside(entry.slice(entry.indexOf('=') + 1)))) return true;
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (inside(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))) return true;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone, or not ours to read
  }
  return false;
}

function reap() {
  // Twice: a worker killed in the first pass may have started a device host in between.
  for (let pass = 0; pass < 2; pass++) {
    for (const entry of fs.readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === process.pid || !belongs(pid)) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
}

const alive = () => {
  try {
    process.kill(Number(watched), 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
};

setInterval(() => {
  if (alive()) return;
  reap();
  process.exit(0);
}, 500);
