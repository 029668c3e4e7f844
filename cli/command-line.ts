/**
 * The command line's grammar: every option, which command takes which, and the parsing that
 * checks a command line before anything runs (bad usage is exit 2).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './lib.js';
import { USAGE } from './usage.js';

export const OPTIONS = {
  output: { type: 'string', short: 'o' },
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  watch: { type: 'boolean', short: 'w' },
  follow: { type: 'boolean', short: 'f' },
  timeout: { type: 'string' },
  mcu: { type: 'string' },
  label: { type: 'string', multiple: true },
  gateway: { type: 'string' },
  firmware: { type: 'string' },
  phase: { type: 'string' },
  name: { type: 'string' },
  to: { type: 'string' },
  selector: { type: 'string', multiple: true },
  all: { type: 'boolean' },
  strategy: { type: 'string' },
  'max-unavailable': { type: 'string' },
  canary: { type: 'string' },
  'pause-after-canary': { type: 'boolean' },
  'no-pause-after-canary': { type: 'boolean' },
  'failure-threshold': { type: 'string' },
  entry: { type: 'string' },
  env: { type: 'string', multiple: true },
  arg: { type: 'string', multiple: true },
  'memory-pages': { type: 'string' },
  detach: { type: 'boolean' },
  app: { type: 'string' },
  'app-state': { type: 'string' },
  ttl: { type: 'string' },
  reason: { type: 'string' },
  out: { type: 'string' },
  runtime: { type: 'string' },
  prefix: { type: 'string' },
  count: { type: 'string' },
  start: { type: 'string' },
  file: { type: 'string' },
  limit: { type: 'string' },
} satisfies ParseArgsConfig['options'];

export type Values = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>['values'];

export type OptionName = keyof typeof OPTIONS;

/** Options every command takes. */
const GLOBAL_OPTIONS: OptionName[] = ['output', 'url', 'help', 'timeout', 'limit'];

/** What selects devices in a list, and in a delete of many. */
export const DEVICE_FILTER_OPTIONS: OptionName[] = [
  'phase',
  'runtime',
  'mcu',
  'gateway',
  'label',
  'prefix',
  'app',
  'app-state',
];

/** What `app deploy` and `app update` take to say which devices, how to roll out and how to run. */
const APP_VERSION_OPTIONS: OptionName[] = [
  'to',
  'selector',
  'all',
  'strategy',
  'max-unavailable',
  'canary',
  'pause-after-canary',
  'failure-threshold',
  'entry',
  'env',
  'arg',
  'memory-pages',
  'detach',
];

/**
 * What each command takes besides the global options (the usage text above says the same for a
 * reader). One table for all commands parses every option everywhere, so without this an option
 * given to a command that does not take it was dropped without a word: `device create X
 * --runtime qemu` made a virtual device.
 */
export const COMMAND_OPTIONS: Record<string, OptionName[]> = {
  up: [],
  status: [],
  logs: ['follow', 'app'],
  ca: [],
  'device list': DEVICE_FILTER_OPTIONS,
  'device get': [],
  'device create': ['mcu', 'runtime', 'label', 'gateway', 'firmware', 'watch'],
  'device create-batch': [
    'count',
    'prefix',
    'start',
    'file',
    'name',
    'mcu',
    'runtime',
    'label',
    'gateway',
    'watch',
  ],
  'device batch-status': ['watch'],
  'device retry': ['watch'],
  'device restart': ['watch'],
  'device rotate-certificate': ['watch'],
  'device delete': ['watch', ...DEVICE_FILTER_OPTIONS],
  'app list': ['phase', 'label', 'prefix'],
  'app get': [],
  'app promote': [],
  'app abort': [],
  'app stop': [],
  'app delete': [],
  'app deploy': ['name', ...APP_VERSION_OPTIONS],
  // (Only an update has a pause to turn off: it keeps the strategy's settings not given.)
  'app update': [...APP_VERSION_OPTIONS, 'no-pause-after-canary'],
  'enrollment-token create': ['name', 'ttl'],
  'enrollment-token list': [],
  'enrollment-token revoke': [],
  'claim-cert create': ['ttl', 'out'],
  'enrollment list': [],
  'enrollment approve': [],
  'enrollment reject': ['reason'],
};

/** The plural and short spellings the commands also answer to. */
const COMMAND_ALIASES: Record<string, string> = {
  devices: 'device',
  apps: 'app',
  'enrollment-tokens': 'enrollment-token',
  enrollments: 'enrollment',
  ls: 'list',
};

/** A command line whose command exists and whose options all apply to it. */
export interface ParsedCommandLine {
  /** The COMMAND_OPTIONS key (`device create`, `logs`), or undefined for help. */
  key: string | undefined;
  values: Values;
  positionals: string[];
}

/**
 * Parses and checks a command line without doing anything: an unknown option or command, or an
 * option the command does not take, is bad usage (CliError, exit 2). `main` runs what it returns;
 * test/cli-reference.test.ts feeds it every command form the references show.
 */
export function parseCommandLine(argv: string[]): ParsedCommandLine {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  const [command, sub] = positionals;
  if (values.help || !command) return { key: undefined, values, positionals };
  const key = commandKey(command, sub);
  const takes = COMMAND_OPTIONS[key];
  if (!takes) {
    const group = key.split(' ')[0]!;
    const isGroup = Object.keys(COMMAND_OPTIONS).some((k) => k.startsWith(`${group} `));
    throw new CliError(
      `unknown ${isGroup ? `${group} command "${sub ?? ''}"` : `command "${command}"`}\n\n${USAGE}`,
      2,
    );
  }
  for (const option of Object.keys(values) as OptionName[]) {
    if (values[option] === undefined || GLOBAL_OPTIONS.includes(option) || takes.includes(option)) continue;
    throw new CliError(
      `--${option} does not apply to "wasmbed ${key}"` +
        (takes.length
          ? `; it takes ${takes.map((o) => `--${o}`).join(', ')}`
          : '; it takes no options of its own'),
      2,
    );
  }
  return { key, values, positionals };
}

/** `devices ls` → `device list`; a command without subcommands (`logs`) is its own key. */
function commandKey(command: string, sub: string | undefined): string {
  const top = COMMAND_ALIASES[command] ?? command;
  return top in COMMAND_OPTIONS ? top : `${top} ${sub === undefined ? '' : (COMMAND_ALIASES[sub] ?? sub)}`;
}
