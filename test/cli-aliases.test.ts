/**
 * The plural and short spellings of commands (`apps ls`, `devices ls`…) run the command they
 * name: `apps ls` passed the parser and was then refused as an unknown app command. Against
 * an address where nothing listens, a command that ran fails as a request that found no API.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../cli/wasmbed.js';

const NOTHING_LISTENS = 'http://127.0.0.1:1';

describe.each([
  ['apps', 'ls'],
  ['app', 'ls'],
  ['devices', 'ls'],
  ['enrollments', 'ls'],
  ['enrollment-tokens', 'ls'],
])('wasmbed %s %s', (command, sub) => {
  it('runs the list it names', async () => {
    await expect(main([command, sub, '--url', NOTHING_LISTENS], () => {})).rejects.toThrow(
      /^cannot reach Wasmbed at http:\/\/127\.0\.0\.1:1/,
    );
  });
});
