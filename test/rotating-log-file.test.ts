/**
 * A device's UART log (common/rotating-log-file.ts) on a real file system: bounded, the newest
 * lines kept whole and in order across a rotation, and the bound read from the environment.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { ValidationError } from '../common/errors.js';
import { RotatingLogFile } from '../common/rotating-log-file.js';

let dir: string;
let file: string;
const errors: Error[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-uart-'));
  file = path.join(dir, 'uart.log');
  errors.length = 0;
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Line `i`: 100 bytes with its newline. */
const line = (i: number) => `line ${String(i).padStart(4, '0')} ${'.'.repeat(89)}\n`;
const numbers = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(l.slice(5, 9)));
const read = (name: string) => (fs.existsSync(name) ? fs.readFileSync(name, 'utf8') : '');

describe('RotatingLogFile', () => {
  it('starts a new file past the bound and keeps the old one as .1, no line lost or split', async () => {
    const log = new RotatingLogFile(file, 1000, (err) => errors.push(err));
    // All in one tick: the writes queued on the first file when it is renamed land in it.
    for (let i = 0; i < 15; i++) log.write(line(i));
    await log.end();
    expect(numbers(read(`${file}.1`))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(numbers(read(file))).toEqual([10, 11, 12, 13, 14]);
    expect(errors).toEqual([]);
  });

  it('keeps at most twice the bound: a second rotation drops the oldest file', async () => {
    const log = new RotatingLogFile(file, 1000, (err) => errors.push(err));
    for (let i = 0; i < 25; i++) {
      log.write(line(i));
      if (i % 7 === 0) await new Promise((resolve) => setImmediate(resolve)); // some writes land between
    }
    await log.end();
    expect(numbers(read(`${file}.1`))).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(numbers(read(file))).toEqual([20, 21, 22, 23, 24]);
    expect(fs.readdirSync(dir).sort()).toEqual(['uart.log', 'uart.log.1']);
  });

  it('counts what a file holds already (a host that restarted appends to its devices’ logs)', async () => {
    fs.writeFileSync(file, line(0) + line(1) + line(2) + line(3) + line(4) + line(5) + line(6));
    const log = new RotatingLogFile(file, 1000, (err) => errors.push(err));
    for (let i = 7; i < 12; i++) log.write(line(i));
    await log.end();
    expect(numbers(read(`${file}.1`))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(numbers(read(file))).toEqual([10, 11]);
  });

  it('writes nothing after end, and end can be called again', async () => {
    const log = new RotatingLogFile(file, 1000, (err) => errors.push(err));
    log.write(line(0));
    await log.end();
    log.write(line(1));
    await log.end();
    expect(numbers(read(file))).toEqual([0]);
    expect(errors).toEqual([]);
  });

  it('reports a rotation that cannot rename (the volume was removed) and keeps writing where it was', async () => {
    const log = new RotatingLogFile(file, 150, (err) => errors.push(err));
    log.write(line(0));
    fs.rmSync(file);
    log.write(line(1));
    await log.end();
    expect(errors.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['ENOENT']);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('WASMBED_UART_LOG_MAX_BYTES', () => {
  it('is 1 MiB unless set, and a bound below 4096 bytes is refused, naming the variable', () => {
    expect(loadConfig({}).host.uartLogMaxBytes).toBe(1024 * 1024);
    expect(loadConfig({ WASMBED_UART_LOG_MAX_BYTES: '65536' }).host.uartLogMaxBytes).toBe(65536);
    for (const bad of ['100', '-1', 'lots']) {
      const load = () => loadConfig({ WASMBED_UART_LOG_MAX_BYTES: bad });
      expect(load).toThrow(ValidationError);
      expect(load).toThrow(/WASMBED_UART_LOG_MAX_BYTES/);
    }
  });
});
