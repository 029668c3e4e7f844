/**
 * A long-lived child's output into a bounded log (common/child-output-log.ts): `npm start`'s
 * Temporal dev server wrote logs/temporal.log itself, appended across restarts without a bound.
 * Real child processes — one that writes fast on both streams, and a real dev server (the
 * Temporal CLI that setup installs) — on a real file system.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { logChildOutput } from '../common/child-output-log.js';
import { ValidationError } from '../common/errors.js';
import { RotatingLogFile } from '../common/rotating-log-file.js';
import { startDevServer } from '../temporal/dev-server.js';
import { freePort } from './support/ports.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-child-log-'));
  file = path.join(dir, 'child.log');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const read = (name: string) => (fs.existsSync(name) ? fs.readFileSync(name, 'utf8') : '');

describe('logChildOutput', () => {
  it("keeps both streams' lines whole and in order, the newest in the file, within the bound", async () => {
    // 400 lines of 100 bytes on each stream, each line written in two pieces so that chunks end
    // mid-line; 80 kB in all against a 4096-byte bound.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `for (let i = 0; i < 400; i++) for (const [out, tag] of [[process.stdout, 'out'], [process.stderr, 'err']]) {
           const line = tag + ' ' + String(i).padStart(4, '0') + ' ' + '.'.repeat(90) + '\\n';
           out.write(line.slice(0, 37)); out.write(line.slice(37));
         }`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const errors: Error[] = [];
    await logChildOutput(child, new RotatingLogFile(file, 4096, (err) => errors.push(err)));
    expect(errors).toEqual([]);
    const current = read(file);
    const previous = read(`${file}.1`);
    expect(current.length).toBeLessThanOrEqual(4096);
    expect(previous.length).toBeLessThanOrEqual(4096);
    const lines = (previous + current).split('\n').filter(Boolean);
    for (const line of lines) expect(line).toMatch(/^(out|err) \d{4} \.{90}$/);
    // Each stream's lines in the order written (the two streams interleave as their pipes deliver).
    for (const tag of ['out', 'err']) {
      const numbers = lines.filter((l) => l.startsWith(tag)).map((l) => Number(l.slice(4, 8)));
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    }
    // The newest line is kept: the last of whichever stream ended last.
    expect(lines.at(-1)?.slice(4, 8)).toBe('0399');
  });

  it("bounds a real Temporal dev server's log, its start-up lines in it, and starts a full one anew", async () => {
    // A log from earlier runs that is already at its bound.
    const earlier = 'earlier run\n'.repeat(400);
    fs.writeFileSync(file, earlier);
    const server = await startDevServer({ port: await freePort(), logFile: file, logMaxBytes: 4096 });
    await server.stop();
    expect(read(`${file}.1`)).toBe(earlier);
    // The banner the CLI prints on its stdout, now through this process.
    expect(read(file)).toMatch(/Temporal Server:\s+localhost:\d+/);
  }, 120_000);

  it('reads its bound from WASMBED_TEMPORAL_LOG_MAX_BYTES: 10 MiB by default, at least 4096', () => {
    expect(loadConfig({}).temporal.devServerLogMaxBytes).toBe(10 * 1024 * 1024);
    expect(loadConfig({ WASMBED_TEMPORAL_LOG_MAX_BYTES: '65536' }).temporal.devServerLogMaxBytes).toBe(65536);
    expect(() => loadConfig({ WASMBED_TEMPORAL_LOG_MAX_BYTES: '100' })).toThrow(ValidationError);
  });
});
