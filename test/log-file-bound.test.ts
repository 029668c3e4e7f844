/**
 * The device host's own log bound (host/log-file-bound.ts), in a real child process whose stderr
 * is a file opened to append, as host/supervisor.ts starts the host: the file is copied to .1 and
 * emptied past the bound, no line lost or split between the two; a file not opened to append, or
 * an fd that writes elsewhere, is left alone.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { REPO_ROOT } from '../common/repo-root.js';

const MODULE = path.join(REPO_ROOT, 'host', 'log-file-bound.ts');
const MAX_BYTES = 4096;
const LINE_BYTES = 100;
const BATCH = 5;

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-host-log-'));
  file = path.join(dir, 'host-test.log');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * Runs a child that writes `lines` numbered lines of 100 bytes to its stderr, BATCH at a time with
 * a turn of the event loop between batches; after each batch it calls `check()` unless
 * `timerOnly`, in which case the bound's own timer (every 2 ms) must do the work. The child's
 * stderr is `file`, opened with `flags`.
 */
function runWriter(options: { lines: number; flags: string; logFile?: string; timerOnly?: boolean }): void {
  const script = `
    import fs from 'node:fs';
    const { boundLogFile } = await import(${JSON.stringify(MODULE)});
    const errors = [];
    const bound = boundLogFile({ file: ${JSON.stringify(options.logFile ?? file)}, maxBytes: ${MAX_BYTES},
      checkMs: 2, onError: (err) => errors.push(err.message) });
    for (let i = 0; i < ${options.lines}; i += ${BATCH}) {
      for (let j = i; j < i + ${BATCH}; j++) fs.writeSync(2, 'line ' + String(j).padStart(5, '0') + ' ' + '.'.repeat(${LINE_BYTES - 12}) + '\\n');
      ${options.timerOnly ? '' : 'bound.check();'}
      await new Promise((resolve) => setTimeout(resolve, ${options.timerOnly ? 3 : 0}));
    }
    bound.stop();
    if (errors.length) { fs.writeSync(1, JSON.stringify(errors)); process.exit(1); }
  `;
  const out = fs.openSync(file, options.flags);
  try {
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', out],
      encoding: 'utf8',
    });
    expect(child.stdout, 'errors the bound reported').toBe('');
    expect(child.status).toBe(0);
  } finally {
    fs.closeSync(out);
  }
}

const numbers = (name: string) =>
  (fs.existsSync(name) ? fs.readFileSync(name, 'utf8') : '')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      expect(l).toMatch(/^line \d{5} \.+$/); // whole lines only
      expect(l.length).toBe(LINE_BYTES - 1);
      return Number(l.slice(5, 10));
    });

describe('boundLogFile', () => {
  it('copies the log to .1 and empties it past the bound: the newest lines kept, none lost between the two', () => {
    runWriter({ lines: 1000, flags: 'a' });
    const current = fs.statSync(file).size;
    const previous = fs.statSync(`${file}.1`).size;
    // A check after every batch: neither file is ever more than a batch past the bound.
    expect(current).toBeLessThanOrEqual(MAX_BYTES + BATCH * LINE_BYTES);
    expect(previous).toBeLessThanOrEqual(MAX_BYTES + BATCH * LINE_BYTES);
    expect(previous).toBeGreaterThan(MAX_BYTES);
    const kept = [...numbers(`${file}.1`), ...numbers(file)];
    expect(kept.at(-1)).toBe(999);
    expect(kept).toEqual(kept.map((_, i) => kept[0]! + i)); // contiguous across the copy
    expect(kept.length * LINE_BYTES).toBeGreaterThan(MAX_BYTES);
  });

  it('does it by itself on its timer', () => {
    runWriter({ lines: 400, flags: 'a', timerOnly: true });
    // 40,000 bytes written: without the timer's checks the file would hold all of them.
    expect(fs.statSync(file).size).toBeLessThan(40_000 / 2);
    const kept = [...numbers(`${file}.1`), ...numbers(file)];
    expect(kept.at(-1)).toBe(399);
    expect(kept).toEqual(kept.map((_, i) => kept[0]! + i));
  });

  it('leaves a file alone that the fd does not append to (truncating it would leave a hole)', () => {
    runWriter({ lines: 100, flags: 'w' });
    expect(fs.statSync(file).size).toBe(100 * LINE_BYTES);
    expect(fs.existsSync(`${file}.1`)).toBe(false);
  });

  it('leaves a file alone that is not the one the fd writes (a host started by hand, logging elsewhere)', () => {
    const other = path.join(dir, 'host-other.log');
    fs.writeFileSync(other, 'x'.repeat(2 * MAX_BYTES));
    runWriter({ lines: 100, flags: 'a', logFile: other });
    expect(fs.statSync(other).size).toBe(2 * MAX_BYTES);
    expect(fs.statSync(file).size).toBe(100 * LINE_BYTES);
    expect(fs.existsSync(`${other}.1`)).toBe(false);
  });
});

describe('WASMBED_HOST_LOG_MAX_BYTES', () => {
  it('defaults to 10 MiB and takes no less than 4096', () => {
    expect(loadConfig({}).host.logMaxBytes).toBe(10 * 1024 * 1024);
    expect(loadConfig({ WASMBED_HOST_LOG_MAX_BYTES: '65536' }).host.logMaxBytes).toBe(65536);
    expect(() => loadConfig({ WASMBED_HOST_LOG_MAX_BYTES: '100' })).toThrow(
      /WASMBED_HOST_LOG_MAX_BYTES="100" must be at least 4096 bytes/,
    );
    expect(() => loadConfig({ WASMBED_HOST_LOG_MAX_BYTES: 'lots' })).toThrow(/WASMBED_HOST_LOG_MAX_BYTES/);
  });
});
