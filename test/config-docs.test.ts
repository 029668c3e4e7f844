/**
 * The environment the code reads and the environment the docs describe are the same: every
 * WASMBED_* and TEMPORAL_* variable read by the platform's code (not tests or benchmarks) is
 * described in README.md's "Configuration (environment)" table or, for one mode or runtime, in
 * the doc of that mode (docs/kubernetes.md, docs/runtimes.md, …), and every variable the table
 * names is read by the code. Found by reading the sources, as a reader of the code would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';

/** Where the platform's code is: everything but tests, benchmarks, tools and dependencies. */
const NOT_CODE = new Set(['node_modules', 'test', 'bench', '.tools', '.git', 'test-artifacts', '.wasmbed']);

function sourceFiles(dir = REPO_ROOT): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return NOT_CODE.has(entry.name) ? [] : sourceFiles(full);
    return /\.(ts|mjs)$/.test(entry.name) ? [full] : [];
  });
}

const READS = [
  /(?:\benv|process\.env)\.((?:WASMBED|TEMPORAL)_[A-Z0-9_]+)/g, // env.WASMBED_HOME
  /\(env, '((?:WASMBED|TEMPORAL)_[A-Z0-9_]+)'/g, // intFromEnv(env, 'WASMBED_WEB_PORT', 3000)
  /env\[['"]((?:WASMBED|TEMPORAL)_[A-Z0-9_]+)['"]\]/g,
];

/** Every variable the code reads, with a file that reads it. */
function variablesRead(): Map<string, string> {
  const read = new Map<string, string>();
  for (const file of sourceFiles()) {
    const text = fs.readFileSync(file, 'utf8');
    for (const pattern of READS)
      for (const match of text.matchAll(pattern)) read.set(match[1]!, path.relative(REPO_ROOT, file));
  }
  return read;
}

const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const configSection = /^## Configuration \(environment\)\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
const docs = fs
  .readdirSync(path.join(REPO_ROOT, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => fs.readFileSync(path.join(REPO_ROOT, 'docs', f), 'utf8'))
  .concat(readme);

it('every variable the code reads is described: in the README table, or in its mode’s doc', () => {
  const read = variablesRead();
  expect(read.size).toBeGreaterThan(40);
  expect(configSection).toContain('| variable');
  const undescribed = [...read]
    .filter(([name]) => !configSection.includes(`\`${name}\``))
    .filter(([name]) => !docs.some((doc) => new RegExp(`\\b${name}\\b`).test(doc)))
    .map(([name, file]) => `${name} (read in ${file})`);
  expect(undescribed).toEqual([]);
});

it('every variable the README table names is read by the code', () => {
  const read = variablesRead();
  const named = [...configSection.matchAll(/`((?:WASMBED|TEMPORAL)_[A-Z0-9_]+)`/g)].map((m) => m[1]!);
  expect(named.length).toBeGreaterThan(30);
  // (`WASMBED_<PROCESS>_METRICS_PORT` stands for several and has no single name to find.)
  expect([...new Set(named)].filter((name) => !read.has(name))).toEqual([]);
});
