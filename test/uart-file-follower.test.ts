// The UART file follower on real files: line framing, resuming after a restart, truncation.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UartFileFollower, type UartLogSink } from '../runtimes/uart-file-follower.js';

let dir: string;
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function setup(): { file: string; stored: string[]; sink: UartLogSink } {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-uart-'));
  const stored: string[] = [];
  return {
    file: path.join(dir, 'uart.log'),
    stored,
    sink: {
      append: (e) => {
        stored.push(e.message);
      },
    },
  };
}

describe('UartFileFollower', () => {
  it('stores whole lines only, and a new follower resumes where the last one stopped', async () => {
    const { file, stored, sink } = setup();
    fs.writeFileSync(file, 'boot\r\nendpoint=10.0.2.2:8081\npart');
    const first = new UartFileFollower(sink);
    first.follow('dev-1', file);
    await first.pollOnce();
    expect(stored).toEqual(['[uart] boot', '[uart] endpoint=10.0.2.2:8081']);
    first.close(); // a worker that stops

    fs.appendFileSync(file, 'ial line\n\nlast\n');
    const second = new UartFileFollower(sink);
    second.follow('dev-1', file);
    await second.pollOnce();
    await second.pollOnce();
    expect(stored).toEqual([
      '[uart] boot',
      '[uart] endpoint=10.0.2.2:8081',
      '[uart] partial line',
      '[uart] last',
    ]);
    await second.unfollow('dev-1');
    expect(second.following).toEqual([]);
  });

  it('starts again from the top of a recreated file, and stores an endless line in pieces', async () => {
    const { file, stored, sink } = setup();
    const follower = new UartFileFollower(sink);
    follower.follow('dev-1', file);
    fs.writeFileSync(file, 'first run, a long enough line\n');
    await follower.pollOnce();
    fs.writeFileSync(file, 'second\n'); // shorter than the stored offset: a new file
    await follower.pollOnce();
    fs.appendFileSync(file, 'x'.repeat(5000)); // a line with no newline, ever
    await follower.pollOnce();
    follower.close();
    expect(stored.slice(0, 2)).toEqual(['[uart] first run, a long enough line', '[uart] second']);
    expect(stored[2]).toBe(`[uart] ${'x'.repeat(5000)}`);
  });

  it('follows nothing and stores nothing for a file that does not exist yet', async () => {
    const { file, stored, sink } = setup();
    const follower = new UartFileFollower(sink);
    follower.follow('dev-1', file);
    await follower.pollOnce();
    follower.close();
    expect(stored).toEqual([]);
  });
});
