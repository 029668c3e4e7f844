/**
 * The CLI's two references, `wasmbed --help` (USAGE) and docs/cli.md, against the CLI itself:
 * every command form either shows is one the CLI takes (a known command, options it accepts
 * for that command), every command is shown in both, and --help shows every option of every
 * command (docs/cli.md says it does). The docs run (test/docs-commands.test.ts) cannot run
 * docs/cli.md's block: it is one line per form, with placeholder files and optional parts.
 * test/cli.test.ts runs the real CLI against a real platform.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import { COMMAND_OPTIONS, OPTIONS, USAGE, parseCommandLine } from '../cli/wasmbed.js';

interface CommandForm {
  where: string;
  /** The command words as written (`device`, `create`, `dev-1`). */
  words: string[];
  /** The options as written, without value: `--watch`, `-o`. */
  options: string[];
}

/** `wasmbed …` lines, each with its continuation lines (USAGE indents them). */
function commandLines(text: string, source: string): { where: string; line: string }[] {
  const lines: { where: string; line: string }[] = [];
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    // (`wasmbed — WebAssembly on …`, USAGE's title, is not a command.)
    if (/^wasmbed [^—]/.test(trimmed)) lines.push({ where: `${source}:${index + 1}`, line: trimmed });
    else if (lines.length && /^\s{8,}[[(-]/.test(raw)) lines.at(-1)!.line += ` ${trimmed}`;
  });
  return lines;
}

/** `app list [--phase P] | get NAME | promote NAME` → three forms of `app`. */
export function commandForms(text: string, source: string): CommandForm[] {
  return commandLines(text, source).flatMap(({ where, line }) => {
    const tokens = line
      .replace(/\s+#.*$/, '') // a comment
      .split(/\s+/)
      .slice(1);
    const alternatives: string[][] = [[]];
    tokens.forEach((token, i) => {
      // A `|` followed by a bare word starts another subcommand; one between options is a choice.
      if (token === '|' && /^[a-z]/.test(tokens[i + 1] ?? '')) alternatives.push([]);
      else alternatives.at(-1)!.push(token);
    });
    const top = alternatives[0]![0]!;
    return alternatives.map((alt, i) => {
      const words = (i === 0 ? alt : [top, ...alt]).filter((t, j) => j < 3 && /^[a-zA-Z0-9]/.test(t));
      const options = alt
        .map((t) => /^[[(]*(--?[a-z][a-z-]*)/.exec(t)?.[1])
        .filter((o): o is string => o !== undefined);
      return { where: `${where} (${[...words.slice(0, 2), ...options].join(' ')})`, words, options };
    });
  });
}

const LONG_BY_SHORT = new Map<string, string>(
  Object.entries(OPTIONS).flatMap(([name, o]) =>
    'short' in o ? [[`-${o.short}`, name] as [string, string]] : [],
  ),
);

/** The option's long name, or undefined when the CLI has no such option. */
function optionName(written: string): keyof typeof OPTIONS | undefined {
  const name = written.startsWith('--') ? written.slice(2) : LONG_BY_SHORT.get(written);
  return name !== undefined && name in OPTIONS ? (name as keyof typeof OPTIONS) : undefined;
}

/** The form as a command line (options that take a value get one), checked by the CLI. */
function check(form: CommandForm): { key?: string; error?: string } {
  const argv = [...form.words.slice(0, 2)];
  for (const written of form.options) {
    const name = optionName(written);
    if (!name) return { error: `${written} is not an option of the CLI` };
    argv.push(`--${name}`);
    if (OPTIONS[name].type === 'string') argv.push('x');
  }
  try {
    return { key: parseCommandLine(argv).key };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
}

const references = {
  'wasmbed --help': commandForms(USAGE, 'USAGE'),
  'docs/cli.md': commandForms(fs.readFileSync(path.join(REPO_ROOT, 'docs/cli.md'), 'utf8'), 'docs/cli.md'),
};

describe.each(Object.entries(references))('%s', (_, forms) => {
  it('shows only command forms the CLI takes', () => {
    expect(forms.length).toBeGreaterThan(20);
    const refused = forms.flatMap((form) => {
      const { error } = check(form);
      return error ? [`${form.where}: ${error}`] : [];
    });
    expect(refused).toEqual([]);
  });

  it('shows every command', () => {
    const shown = new Set(forms.map((form) => check(form).key));
    expect(Object.keys(COMMAND_OPTIONS).filter((key) => !shown.has(key))).toEqual([]);
  });
});

it('wasmbed --help shows every option of every command', () => {
  const shown = new Map<string, Set<string>>();
  for (const form of references['wasmbed --help']) {
    const { key } = check(form);
    if (!key) continue;
    const options = shown.get(key) ?? new Set();
    for (const written of form.options) options.add(optionName(written) ?? written);
    shown.set(key, options);
  }
  const missing = Object.entries(COMMAND_OPTIONS).flatMap(([key, takes]) =>
    takes.filter((option) => !shown.get(key)?.has(option)).map((option) => `${key}: --${option}`),
  );
  expect(missing).toEqual([]);
});

it('a form the CLI does not take is caught: the check can fail', () => {
  const [bad] = commandForms('wasmbed device create d --to dev-2 | frobnicate X', 'example');
  expect(check(bad!).error).toMatch(/--to does not apply to "wasmbed device create"/);
  const [, unknown] = commandForms('wasmbed device create d | frobnicate X', 'example');
  expect(check(unknown!).error).toMatch(/unknown device command "frobnicate"/);
  const [made] = commandForms('wasmbed app list --colour red', 'example');
  expect(check(made!).error).toBe('--colour is not an option of the CLI');
});
