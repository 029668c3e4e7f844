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

  for (const writer of ['appends (qemu: append=on)', 'writes at its own position']) {
    it(`gives back the disk of what it read, and reads on where it was, from an emulator that ${writer}`, async () => {
      const { file, stored, sink } = setup();
      const follower = new UartFileFollower(sink, { freeReadEveryBytes: 64 * 1024 });
      follower.follow('dev-1', file);
      const appends = writer.startsWith('appends');
      const fd = fs.openSync(file, appends ? 'a' : 'w');
      let position = 0;
      const emit = (from: number, to: number) => {
        let text = '';
        for (let i = from; i < to; i++) text += `line ${String(i).padStart(5, '0')} ${'.'.repeat(88)}\n`;
        if (appends) fs.writeSync(fd, text);
        else position += fs.writeSync(fd, text, position);
      };
      const expected = (n: number) =>
        Array.from({ length: n }, (_, i) => `[uart] line ${String(i).padStart(5, '0')} ${'.'.repeat(88)}`);
      try {
        emit(0, 2000); // 200 KB
        while (stored.length < 2000) await follower.pollOnce();
        expect(stored).toEqual(expected(2000));
        const after = fs.statSync(file);
        expect(after.size).toBe(200_000);
        // What was read takes no disk any more: at most the block holding the read position.
        expect(after.blocks * 512).toBeLessThanOrEqual(8192);

        emit(2000, 2010); // the emulator goes on, at its own offset
        await follower.pollOnce();
        expect(stored).toEqual(expected(2010));
        expect(fs.statSync(file).size).toBe(201_000);
      } finally {
        fs.closeSync(fd);
        follower.close();
      }
    });
  }
});
