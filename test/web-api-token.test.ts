/**
 * The web process refuses a placeholder or short WASMBED_API_TOKEN before it opens anything
 * (web/api-token.ts): the real web/main.ts is started and must exit naming the variable.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import { checkApiToken } from '../web/api-token.js';

function startWeb(token: string): Promise<{ code: number | null; output: string }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-token-'));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'web', 'main.ts')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      WASMBED_HOME: home,
      WASMBED_API_TOKEN: token,
      WASMBED_WEB_HOST: '0.0.0.0',
      WASMBED_WEB_PORT: '0',
      // Nothing listens here: a web that did start would fail later, differently.
      TEMPORAL_ADDRESS: '127.0.0.1:1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      fs.rmSync(home, { recursive: true, force: true });
      resolve({ code, output });
    }),
  );
}

describe('API token', () => {
  it('the web refuses the placeholder change-me', async () => {
    const { code, output } = await startWeb('change-me');
    expect(code).toBe(2);
    expect(output).toMatch(/WASMBED_API_TOKEN looks like a placeholder/);
  }, 60_000);

  it('the web refuses a 10-character token', async () => {
    const { code, output } = await startWeb('a1b2c3d4e5');
    expect(code).toBe(2);
    expect(output).toMatch(/WASMBED_API_TOKEN is 10 characters long; at least 32 are required/);
  }, 60_000);

  it('accepts a random 64-character token and names the variable for the rest', () => {
    expect(() =>
      checkApiToken('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'),
    ).not.toThrow();
    expect(() => checkApiToken(undefined)).not.toThrow();
    expect(() => checkApiToken('x'.repeat(40))).toThrow(/WASMBED_API_TOKEN repeats one character/);
    expect(() => checkApiToken('change-me-change-me-change-me-change-me')).toThrow(/placeholder/);
  });
});
