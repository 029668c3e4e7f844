/**
 * The docs run: every shell example of README.md and docs/*.md that talks to the platform
 * (curl, `npx wasmbed …`, `npx wasmbed-device …`) is run, in the order a reader meets it,
 * against a real test platform. A documented command that fails fails this test. Commands
 * are rewritten only for where the test platform listens (its ports are free ports, not the
 * defaults of `npm start`) and curl is told to fail on an HTTP error. What is not run is
 * listed in NOT_RUN with the reason.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import { buildApps } from '../scripts/build-apps.mjs';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

export interface DocCommand {
  file: string;
  line: number;
  text: string;
}

const TALKS_TO_PLATFORM = /^(curl |npx wasmbed |npx wasmbed-device |wasmbed )/;

/** The commands of a markdown file's shell blocks: continuation lines joined, open quotes followed. */
export function extractCommands(markdown: string, file: string): DocCommand[] {
  const commands: DocCommand[] = [];
  let inShell = false;
  let pending: DocCommand | undefined;
  markdown.split('\n').forEach((raw, index) => {
    if (/^```/.test(raw)) {
      inShell = !inShell && /^```(sh|bash|shell)\s*$/.test(raw);
      pending = undefined;
      return;
    }
    if (!inShell) return;
    if (pending) {
      pending.text += `\n${raw}`;
    } else {
      const line = raw.trim();
      if (!TALKS_TO_PLATFORM.test(line)) return;
      pending = { file, line: index + 1, text: line };
    }
    const text = pending.text.replace(/\s+#[^'"\n]*$/gm, '');
    const quotes = (q: string) => (text.replace(/\\./g, '').match(new RegExp(q, 'g')) ?? []).length;
    const openQuote = quotes('"') % 2 === 1 || quotes("'") % 2 === 1;
    if (
      !openQuote &&
      !/\\\s*$/.test(
        text
          .split('\n')
          .at(-1)!
          .replace(/\s+#.*$/, ''),
      )
    ) {
      commands.push(pending);
      pending = undefined;
    }
  });
  return commands;
}

/** A comment after a command (`  # …`), outside quotes. */
function withoutComment(text: string): string {
  return text.replace(/\s+#[^'"\n]*$/gm, '');
}

/** Commands not run, each with why. Matched against the command text. */
const NOT_RUN: [RegExp, string][] = [
  [/^wasmbed up\b/, 'starts a whole second platform (what npm start runs); the test platform is that'],
  // (A `|` into grep, jq, head or tail is a shell pipe, not a synopsis: those commands run.)
  [
    / \[|\|(?! (?:grep|jq|head|tail)\b)/,
    'a synopsis (optional parts in [ ], alternatives with |), not a runnable example',
  ],
  [/firmware\/build\//, 'needs the C firmware built (npm run test:slow builds and tests it)'],
  [/^wasmbed logs \S+ -f|^npx wasmbed logs \S+ -f/, 'follows the log until interrupted'],
];

/** Files whose shell blocks are not run, each with why. */
const NOT_RUN_FILES: Record<string, string> = {
  'docs/cli.md':
    'the command reference: one line per command form, with placeholder files and [options]; test/cli-reference.test.ts checks every form against the CLI, test/cli.test.ts runs the CLI',
};

/** Commands whose documented outcome is an HTTP error, checked as such. */
const EXPECTED_HTTP_ERROR: [RegExp, number, string][] = [
  [
    /devices\/dev-1\/retry/,
    409,
    'dev-1 is Connected, not Failed: retry is for a Failed device and refuses others',
  ],
];

let platform: TestPlatform;
let cwd: string;
const background: ChildProcess[] = [];

beforeAll(async () => {
  await buildApps({ log: () => {} });
  platform = await startTestPlatform();
  // Commands write files (ca.pem) and read the example apps by relative path.
  cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-docs-'));
  fs.symlinkSync(path.join(REPO_ROOT, 'examples'), path.join(cwd, 'examples'));
});
afterAll(async () => {
  for (const child of background) child.kill('SIGTERM');
  await platform?.stop();
  if (cwd) fs.rmSync(cwd, { recursive: true, force: true });
});

const sources = ['README.md', ...fs.readdirSync(path.join(REPO_ROOT, 'docs')).map((f) => `docs/${f}`)]
  .filter((f) => f.endsWith('.md'))
  .sort((a, b) => (a === 'README.md' ? -1 : b === 'README.md' ? 1 : a.localeCompare(b)));

it('finds the documented commands', () => {
  const all = sources.flatMap((f) => extractCommands(fs.readFileSync(path.join(REPO_ROOT, f), 'utf8'), f));
  expect(all.length).toBeGreaterThan(20);
  expect(all.some((c) => c.text.includes('\n'))).toBe(true); // multi-line commands are whole
});

it('runs every documented command that talks to the platform', { timeout: 900_000 }, async () => {
  const web = new URL(platform.webUrl).host;
  const metrics = (name: string, which: 'metrics' | 'temporal') => {
    const target = platform.metricsTargets.get(name)?.[which];
    if (!target) throw new Error(`the test platform has no ${which} endpoint for ${name}`);
    return target;
  };
  const rewrite = (text: string, vars: Map<string, string>) => {
    let t = withoutComment(text)
      .replace(/localhost:3000/g, web)
      .replace(/127\.0\.0\.1:8081/g, `127.0.0.1:${platform.gatewayPort}`)
      .replace(/localhost:9470/g, metrics('orchestrator', 'metrics'))
      .replace(/localhost:9471/g, metrics('orchestrator', 'temporal'))
      .replace(/localhost:8080/g, new URL(platform.gatewayHealthUrl).host)
      .replace(/localhost:9472/g, metrics('web', 'metrics'))
      .replace(/localhost:9475/g, metrics('host', 'metrics'))
      .replace(/localhost:9476/g, metrics('host', 'temporal'))
      .replace(/^curl /, 'curl -sS --fail-with-body ')
      .replace(/^npx wasmbed-device /, `node ${path.join(REPO_ROOT, 'device', 'wasmbed-device.mjs')} `)
      .replace(/^(npx )?wasmbed /, `node ${path.join(REPO_ROOT, 'cli', 'main.mjs')} `);
    for (const [placeholder, value] of vars) t = t.replaceAll(placeholder, value);
    return t;
  };
  const run = (command: string) =>
    new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn('bash', ['-c', command], {
        cwd,
        env: { ...process.env, WASMBED_URL: platform.webUrl, HOME: cwd },
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('exit', (code) => resolve({ code: code ?? 1, out }));
    });

  const vars = new Map<string, string>();
  const ran: string[] = [];
  const skipped: string[] = [];
  for (const file of sources) {
    for (const command of extractCommands(fs.readFileSync(path.join(REPO_ROOT, file), 'utf8'), file)) {
      const where = `${command.file}:${command.line}: ${command.text.split('\n')[0]}`;
      const notRun: [RegExp, string] | undefined = NOT_RUN_FILES[command.file]
        ? [/./, NOT_RUN_FILES[command.file]!]
        : NOT_RUN.find(([re]) => re.test(withoutComment(command.text)));
      if (notRun) {
        skipped.push(`${where} — ${notRun[1]}`);
        continue;
      }
      const text = rewrite(command.text, vars);
      if (/^node \S+wasmbed-device\.mjs /.test(text)) {
        // A board: it runs until it is stopped. It must reach the platform, which then lists it.
        const child = spawn('bash', ['-c', `exec ${text}`], { cwd, env: { ...process.env, HOME: cwd } });
        background.push(child);
        const name = /--name (\S+)/.exec(text)![1]!;
        await waitFor(`${name} asks to enroll (${where})`, async () => {
          const pending = await platform.api('GET', '/api/v1/enrollments');
          return pending.body.items.some((e: { name: string }) => e.name === name);
        });
        ran.push(where);
        continue;
      }
      const expected = EXPECTED_HTTP_ERROR.find(([re]) => re.test(command.text));
      const { code, out } = await run(text);
      if (expected) {
        expect(code, `${where}\n${out}`).toBe(22); // curl --fail-with-body: an HTTP error
        expect(out, `${where}: ${expected[2]}`).toContain(`"code":"`);
        expect(out).toMatch(new RegExp(`${expected[1] === 409 ? 'Conflict|not Failed|AlreadyExists' : ''}`));
      } else {
        expect(code, `${where}\n$ ${text}\n${out}`).toBe(0);
      }
      if (/\/metrics \| grep /.test(text)) {
        // A metric's # HELP and # TYPE lines are there before anything is counted, and on every
        // process that registers it: the documented port must have samples of it.
        expect(
          out.split('\n').some((l) => l && !l.startsWith('#')),
          `${where}: no samples, only\n${out}`,
        ).toBe(true);
      }
      for (const token of out.match(/wbt_[A-Za-z0-9_-]{20,}/g) ?? []) vars.set('wbt_…', token);
      ran.push(where);
      // A device the docs create is used by the next examples: let it come up first.
      const created =
        /api\/v1\/devices -H[\s\S]*?"name":"([a-z0-9-]+)"/.exec(command.text) ??
        /device create (\S+)/.exec(command.text);
      if (created && !/enrollment/.test(command.text)) {
        await waitFor(`${created[1]} Connected`, async () => {
          const d = await platform.api('GET', `/api/v1/devices/${created[1]}`);
          return d.body.status?.phase === 'Connected';
        });
      }
    }
  }
  expect(ran.length, `ran:\n${ran.join('\n')}\nskipped:\n${skipped.join('\n')}`).toBeGreaterThan(15);
});
