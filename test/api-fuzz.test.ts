/**
 * The API fuzzer: schemathesis (PyPI; installed into .tools/schemathesis by scripts/setup.mjs)
 * generates requests from a real platform's /api/v1/openapi.json and runs every check on the
 * answers — no 5xx, no schema-valid request refused, every schema-invalid one refused, no
 * undeclared method served (405 with Allow), responses as documented. A fixed seed and a
 * bounded number of examples (test/support/schemathesis.toml) make a run repeatable.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import { OPENAPI_DOCUMENT } from '../web/openapi.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';

const ST = path.join(REPO_ROOT, '.tools', 'schemathesis', 'bin', 'st');
const CONFIG = path.join(REPO_ROOT, 'test', 'support', 'schemathesis.toml');
const HOOKS = path.join(REPO_ROOT, 'test', 'support', 'schemathesis_hooks.py');

let platform: TestPlatform;
let reportDir: string;

beforeAll(async () => {
  if (!fs.existsSync(ST)) throw new Error(`${ST} is missing: run node scripts/setup.mjs --with-fuzzer`);
  reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-fuzz-'));
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform?.stop();
  if (reportDir && !process.env.WASMBED_KEEP_FUZZ_REPORT)
    fs.rmSync(reportDir, { recursive: true, force: true });
});

it('finds nothing wrong with the API', { timeout: 600_000 }, async () => {
  const args = [
    '--config-file',
    CONFIG,
    'run',
    `${platform.webUrl}/api/v1/openapi.json`,
    '--url',
    `${platform.webUrl}/api/v1`,
    '--checks',
    'all',
    '--report',
    'junit,ndjson',
    '--report-dir',
    reportDir,
    '--no-color',
  ];
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(
      ST,
      args,
      { cwd: reportDir, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, SCHEMATHESIS_HOOKS: HOOKS } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, output: stdout + stderr }),
    );
  });
  expect(code, output.slice(-20_000)).toBe(0);
  // It really tested every operation of the document (but the document itself, which
  // schemathesis loaded it from and does not test), with many requests.
  const report = fs.readdirSync(reportDir).find((f) => /^junit.*\.xml$/.test(f));
  const junit = fs.readFileSync(path.join(reportDir, report!), 'utf8');
  const tested = new Set([...junit.matchAll(/<testcase name="([^"]+)"/g)].map((m) => m[1]));
  const operations = Object.entries(OPENAPI_DOCUMENT.paths).flatMap(([p, item]) =>
    Object.keys(item)
      .filter((k) => k !== 'parameters')
      .map((m) => `${m.toUpperCase()} ${p}`),
  );
  const untested = operations.filter((op) => !tested.has(op));
  // POST /device-batches is switched off in the config, with the reason there.
  const notFuzzed = ['GET /openapi.json', 'POST /device-batches'];
  expect(
    untested.filter((op) => !notFuzzed.includes(op)),
    junit.slice(0, 3000),
  ).toEqual([]);
  const requests = Number(/(\d+) (?:test cases|generated)/.exec(output)?.[1] ?? 0);
  expect(requests, output.slice(-3000)).toBeGreaterThan(operations.length * 5);
});
