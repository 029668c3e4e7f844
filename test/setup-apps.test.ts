/**
 * `node scripts/setup.mjs --with-apps` (what `npm test` runs first) leaves the example apps built
 * in examples/apps/dist/, as README.md and examples/apps/README.md say: it installed only the C
 * toolchain, and a reader who followed it had no apps to deploy. An app made out of date (its
 * output older than its sources) is built again by it; the build is the one of
 * scripts/build-apps.mjs (atomic renames, so a test deploying the app meanwhile is unaffected).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import { DIST_DIR } from '../scripts/build-apps.mjs';

it('setup --with-apps builds the example apps that are out of date', () => {
  const hello = path.join(DIST_DIR, 'hello.wasm');
  if (fs.existsSync(hello)) fs.utimesSync(hello, new Date('2000-01-01'), new Date('2000-01-01'));
  const setup = spawnSync(process.execPath, ['scripts/setup.mjs', '--with-apps'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  expect(setup.status, setup.stderr).toBe(0);
  expect(setup.stderr).toMatch(/built the example apps .*hello/);
  expect(fs.statSync(hello).mtime.getFullYear()).toBeGreaterThan(2000);
  for (const app of ['hello', 'blinky', 'sensor', 'faulty', 'counter-c'])
    expect(WebAssembly.validate(fs.readFileSync(path.join(DIST_DIR, `${app}.wasm`))), app).toBe(true);
}, 120_000);
