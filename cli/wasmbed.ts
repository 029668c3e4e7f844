/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI prints loosely typed JSON from the API */
/**
 * `wasmbed`: the platform from the command line, through the same REST API as the dashboard
 * (WASMBED_URL, default http://127.0.0.1:3000; WASMBED_API_TOKEN when it listens beyond
 * localhost). Exit codes: 0 done, 1 the operation failed, 2 bad usage, 3 timed out.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createBatch, watchBatch } from './batch.js';
import {
  ApiClient,
  ApiError,
  CliError,
  StatusLine,
  age,
  listAll,
  parseKeyValues,
  progressBar,
  queryParams,
  sleep,
  table,
} from './lib.js';
import { appDeviceStateLabel } from '../common/app-device-label.js';
import { errorMessage } from '../common/errors.js';
import { isCountOrPercent, type CountOrPercent } from '../common/rollout-count.js';
import { strategyText } from '../common/strategy-text.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const USAGE = `wasmbed — WebAssembly on microcontroller fleets

Usage:
  wasmbed up                                  run the whole platform (like npm start)
  wasmbed status                              health of every platform process
  wasmbed device list [--phase P] [--runtime R] [--mcu TYPE] [--gateway G] [--label k=v]... [--prefix P]
                     [--app APP [--app-state STATE]]
                                              APP: devices that have it; STATE: where it is Failed, Running, …
  wasmbed device create-batch (--count N --prefix P [--start N] | --file SPECS.json) [--name BATCH]
                     [--mcu TYPE] [--runtime R] [--label k=v]... [--gateway G] [--watch]
  wasmbed device batch-status BATCH [--watch]
  wasmbed device get NAME
  wasmbed device create NAME [--mcu TYPE] [--runtime R] [--label k=v]... [--gateway G] [--firmware PATH] [--watch]
  wasmbed device retry NAME [--watch]
  wasmbed device restart NAME [--watch]
  wasmbed device rotate-certificate NAME [--watch]
                                              a new certificate now; --watch: until the device uses it
  wasmbed device delete NAME [--watch]
  wasmbed device delete [--phase P] [--runtime R] [--mcu TYPE] [--gateway G] [--label k=v]... [--prefix P]
                     [--app APP [--app-state STATE]] [--watch]
                                              every device the filters select (at least one)
  wasmbed app list [--phase P] [--label k=v]... [--prefix P] | get NAME | promote NAME | abort NAME | stop NAME | delete NAME
  wasmbed app deploy FILE.wasm (--to d1,d2 | --selector k=v | --all) [--name N]
                     [--strategy AllAtOnce|Rolling|Canary] [--max-unavailable N|P%] [--canary N|P%]
                     [--pause-after-canary] [--failure-threshold N] [--entry F]
                     [--env K=V]... [--arg A]... [--memory-pages N] [--detach]
  wasmbed app update NAME [FILE.wasm] [--to d1,d2 | --selector k=v | --all]
                     [--strategy AllAtOnce|Rolling|Canary] [--max-unavailable N|P%] [--canary N|P%]
                     [--pause-after-canary] [--failure-threshold N] [--entry F]
                     [--env K=V]... [--arg A]... [--memory-pages N] [--detach]
                                              a new version: what is given replaces, the rest stays
  wasmbed logs DEVICE [-f] [--app APP]
  wasmbed enrollment-token create [--name DEVICE] [--ttl 24h] | list | revoke ID
  wasmbed claim-cert create DEVICE [--ttl 30d] [--out DIR]   claim certificate for a factory board
  wasmbed enrollment list | approve DEVICE | reject DEVICE [--reason TEXT]
  wasmbed ca                                  the CA certificate devices trust (PEM)

Options:
  -o, --output table|json   output format (default table)
  --url URL                 API base (default $WASMBED_URL or http://127.0.0.1:3000)
  --timeout SECONDS         how long --watch waits (default 180)
  --limit N                 page size of list requests (default 500; lists follow every page)
  -h, --help

Environment: WASMBED_URL, WASMBED_API_TOKEN.`;

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

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

type OptionName = keyof typeof OPTIONS;

/** Options every command takes. */
const GLOBAL_OPTIONS: OptionName[] = ['output', 'url', 'help', 'timeout', 'limit'];

/** What selects devices in a list, and in a delete of many. */
const DEVICE_FILTER_OPTIONS: OptionName[] = [
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
  'app update': APP_VERSION_OPTIONS,
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

interface Ctx {
  api: ApiClient;
  json: boolean;
  values: Values;
  /** Positional arguments after COMMAND SUB ARG (e.g. `app update NAME FILE`'s FILE). */
  more: string[];
  timeoutMs: number;
  out: (text: string) => void;
}

function intOption(values: Values, name: keyof Values): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new CliError(`--${String(name)} must be a non-negative integer`, 2);
  return n;
}

/**
 * A count of devices, or a percentage of the rollout's targets ("25%"). Either spelling that is
 * wrong gets the message naming both: "--canary 2.5" said "must be a non-negative integer".
 */
function countOrPercentOption(values: Values, name: keyof Values): CountOrPercent | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = typeof raw === 'string' && /^[0-9]+$/.test(raw) ? Number(raw) : raw;
  if (!isCountOrPercent(value))
    throw new CliError(`--${String(name)} must be a count or a percentage from 0% to 100%, got ${raw}`, 2);
  return value;
}

const need = (value: string | undefined, what: string): string => {
  if (!value) throw new CliError(`missing ${what}\n\n${USAGE}`, 2);
  return value;
};

// ---- devices ----------------------------------------------------------------------------

function deviceRow(d: any): (string | undefined)[] {
  const steps: any[] = d.status?.steps ?? [];
  const done = steps.filter((s) => s.state === 'Succeeded').length;
  return [
    d.metadata.name,
    d.status?.phase,
    d.spec?.mcuType,
    d.status?.gateway?.name ?? d.spec?.gateway ?? '',
    steps.length ? `${done}/${steps.length}` : '',
    Object.entries(d.metadata.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    age(d.metadata.creationTimestamp),
    d.status?.phase === 'Failed' ? (d.status?.message ?? '') : '',
  ];
}

/** Every item of a list, page by page (`--limit` is the page size). */
function listEvery(ctx: Ctx, path: string, params: Record<string, string | undefined> = {}) {
  const pageSize = intOption(ctx.values, 'limit') ?? 500;
  if (pageSize < 1) throw new CliError('--limit must be at least 1', 2);
  return listAll(ctx.api, path, params, pageSize);
}

/**
 * The API's device filters from the command's options (DEVICE_FILTER_OPTIONS). --app-state
 * without --app is bad usage here (the API would refuse it too, but as a failed request).
 */
function deviceFilters(v: Values): Record<string, string | undefined> {
  if (v['app-state'] !== undefined && !v.app)
    throw new CliError('--app-state needs --app: the state of which application', 2);
  return {
    phase: v.phase,
    runtime: v.runtime,
    mcuType: v.mcu,
    gateway: v.gateway,
    labelSelector: v.label?.join(','),
    namePrefix: v.prefix,
    app: v.app,
    appState: v['app-state'],
  };
}

async function deviceList(ctx: Ctx): Promise<number> {
  const items = await listEvery(ctx, '/devices', deviceFilters(ctx.values));
  if (ctx.json) ctx.out(JSON.stringify({ items }, null, 2));
  else
    ctx.out(
      table(['NAME', 'PHASE', 'MCU', 'GATEWAY', 'STEPS', 'LABELS', 'AGE', 'MESSAGE'], items.map(deviceRow)),
    );
  return 0;
}

function batchContext(ctx: Ctx) {
  return {
    api: ctx.api,
    json: ctx.json,
    timeoutMs: ctx.timeoutMs,
    out: ctx.out,
    watch: ctx.values.watch === true,
  };
}

function deviceCreateBatch(ctx: Ctx): Promise<number> {
  const v = ctx.values;
  return createBatch(batchContext(ctx), {
    name: v.name,
    count: intOption(v, 'count'),
    prefix: v.prefix,
    start: intOption(v, 'start'),
    file: v.file,
    mcuType: v.mcu,
    runtime: v.runtime,
    gateway: v.gateway,
    labels: parseKeyValues(v.label, '--label'),
  });
}

function describeDevice(d: any): string {
  const s = d.status ?? {};
  const lines = [
    `Name:           ${d.metadata.name}`,
    `Phase:          ${s.phase}${s.message ? ` — ${s.message}` : ''}`,
    `MCU:            ${d.spec.mcuType} (${d.spec.runtime})`,
    `Labels:         ${
      Object.entries(d.metadata.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '-'
    }`,
    `Gateway:        ${s.gateway ? `${s.gateway.name} (${s.gateway.endpoint})` : '-'}`,
    `Last heartbeat: ${s.lastHeartbeat ?? '-'}`,
    `Certificate:    ${s.identity?.certSerial ?? '-'}${s.identity?.notAfter ? ` until ${s.identity.notAfter}` : ''}`,
    `Workflow:       ${s.workflowId ?? '-'}`,
    'Steps:',
    ...(s.steps ?? []).map(
      (st: any) => `  ${st.state.padEnd(10)} ${st.name}${st.message ? ` — ${st.message}` : ''}`,
    ),
  ];
  const apps = Object.entries(s.apps ?? {});
  if (apps.length)
    lines.push('Apps:', ...apps.map(([id, a]: [string, any]) => `  ${String(a?.state).padEnd(10)} ${id}`));
  return lines.join('\n');
}

async function deviceGet(ctx: Ctx, name: string): Promise<number> {
  const { body } = await ctx.api.request('GET', `/devices/${encodeURIComponent(name)}`);
  ctx.out(ctx.json ? JSON.stringify(body, null, 2) : describeDevice(body));
  return 0;
}

/** Follows a device until it is Connected (0), Failed (1), gone when `untilGone` (0), or timeout (3). */
async function watchDevice(ctx: Ctx, name: string, untilGone = false): Promise<number> {
  const line = new StatusLine();
  const deadline = Date.now() + ctx.timeoutMs;
  for (;;) {
    const res = await ctx.api.request('GET', `/devices/${encodeURIComponent(name)}`, undefined, {
      allow: [404],
    });
    if (res.status === 404) {
      if (untilGone) line.update(`${name} ${progressBar(1, 1)} deleted`, true);
      line.done();
      if (untilGone) {
        if (ctx.json) ctx.out(JSON.stringify({ name, deleted: true }));
        else ctx.out(`${name} deleted`);
        return 0;
      }
      throw new CliError(`device ${name} does not exist`);
    }
    const d = res.body;
    const phase: string = d.status?.phase;
    const steps: any[] = d.status?.steps ?? [];
    const done = steps.filter((s) => s.state === 'Succeeded').length;
    const current = steps.find((s) => s.state === 'Running' || s.state === 'Failed')?.name ?? '';
    line.update(
      untilGone
        ? // Provisioning's steps (all done) and the phase (Connected until deprovisioning
          // writes its own) said nothing of a deletion: the bar is the one device, until it is gone.
          `${name} ${progressBar(0, 1)} deleting`
        : `${name} ${progressBar(done, steps.length || 7)} ${phase}${current ? ` · ${current}` : ''}`,
    );
    if (!untilGone && phase === 'Connected') {
      line.done();
      ctx.out(
        ctx.json ? JSON.stringify(d, null, 2) : `${name} Connected via ${d.status.gateway?.name ?? '?'}`,
      );
      return 0;
    }
    if (!untilGone && phase === 'Failed') {
      line.done();
      if (ctx.json) ctx.out(JSON.stringify(d, null, 2));
      process.stderr.write(
        `${name} Failed: ${d.status.message ?? 'unknown reason'} (wasmbed device retry ${name})\n`,
      );
      return 1;
    }
    if (Date.now() > deadline) {
      line.done();
      process.stderr.write(`timed out after ${ctx.timeoutMs / 1000} s; ${name} is ${phase}\n`);
      return 3;
    }
    await sleep(300);
  }
}

async function deviceCreate(ctx: Ctx, name: string): Promise<number> {
  const body: Record<string, unknown> = { name };
  if (ctx.values.mcu) body.mcuType = ctx.values.mcu;
  if (ctx.values.runtime) body.runtime = ctx.values.runtime;
  if (ctx.values.gateway) body.gateway = ctx.values.gateway;
  if (ctx.values.firmware) body.firmware = path.resolve(ctx.values.firmware);
  const labels = parseKeyValues(ctx.values.label, '--label');
  if (Object.keys(labels).length) body.labels = labels;
  const { body: created } = await ctx.api.request('POST', '/devices', body);
  if (!ctx.values.watch) {
    ctx.out(
      ctx.json
        ? JSON.stringify(created)
        : `device ${created.name} created; provisioning as ${created.workflowId}`,
    );
    return 0;
  }
  if (!ctx.json)
    process.stderr.write(`device ${created.name} created; provisioning as ${created.workflowId}\n`);
  return watchDevice(ctx, name);
}

async function deviceAction(ctx: Ctx, action: 'retry' | 'restart' | 'delete', name: string): Promise<number> {
  const { body } =
    action === 'delete'
      ? await ctx.api.request('DELETE', `/devices/${encodeURIComponent(name)}`)
      : await ctx.api.request('POST', `/devices/${encodeURIComponent(name)}/${action}`);
  if (!ctx.values.watch) {
    ctx.out(ctx.json ? JSON.stringify(body) : `${action} ${name}: ${body.workflowId}`);
    return 0;
  }
  if (!ctx.json) process.stderr.write(`${action} ${name}: ${body.workflowId}\n`);
  return watchDevice(ctx, name, action === 'delete');
}

/**
 * `device rotate-certificate NAME`: the device's lifecycle issues a new certificate and delivers
 * it (POST …/rotate-certificate). The serial before the request is what tells the new one apart,
 * so --watch follows the device until it is Connected with another serial (0), Failed (1), or
 * timeout (3).
 */
async function deviceRotateCertificate(ctx: Ctx, name: string): Promise<number> {
  const path = `/devices/${encodeURIComponent(name)}`;
  const { body: before } = await ctx.api.request('GET', path);
  const oldSerial: string | undefined = before.status?.identity?.certSerial;
  const { body } = await ctx.api.request('POST', `${path}/rotate-certificate`);
  const requested = `${name}: certificate ${oldSerial ?? '(none)'} being replaced by ${body.workflowId}`;
  if (!ctx.values.watch) {
    ctx.out(ctx.json ? JSON.stringify(body) : `${requested}; wasmbed device get ${name} shows the new one`);
    return 0;
  }
  if (!ctx.json) process.stderr.write(`${requested}\n`);
  const deadline = Date.now() + ctx.timeoutMs;
  for (;;) {
    const { body: d } = await ctx.api.request('GET', path);
    const identity = d.status?.identity;
    if (d.status?.phase === 'Connected' && identity?.certSerial && identity.certSerial !== oldSerial) {
      ctx.out(
        ctx.json
          ? JSON.stringify(d, null, 2)
          : `${name} certificate rotated: ${oldSerial ?? '(none)'} → ${identity.certSerial}${identity.notAfter ? `, valid until ${identity.notAfter}` : ''}`,
      );
      return 0;
    }
    if (d.status?.phase === 'Failed') {
      if (ctx.json) ctx.out(JSON.stringify(d, null, 2));
      process.stderr.write(
        `${name} Failed: ${d.status.message ?? 'unknown reason'} (wasmbed device retry ${name})\n`,
      );
      return 1;
    }
    if (Date.now() > deadline) {
      process.stderr.write(
        `timed out after ${ctx.timeoutMs / 1000} s; ${name} is ${d.status?.phase} with certificate ${identity?.certSerial ?? '(none)'}\n`,
      );
      return 3;
    }
    await sleep(300);
  }
}

/**
 * `device delete` with filters instead of a name: one DELETE /devices?… for every device they
 * select; with --watch a progress bar until all of them are gone (0), or timeout (3).
 */
async function deviceDeleteMany(ctx: Ctx): Promise<number> {
  const filters = deviceFilters(ctx.values);
  const { body } = await ctx.api.request('DELETE', `/devices?${queryParams(filters)}`);
  const names: string[] = body.items.map((d: { name: string }) => d.name);
  for (const f of body.failed as { name: string; message: string }[])
    process.stderr.write(`${f.name}: deprovisioning did not start: ${f.message}\n`);
  if (!ctx.values.watch || names.length === 0) {
    if (ctx.json) ctx.out(JSON.stringify(body, null, 2));
    else ctx.out(names.length ? `deleting ${names.length} devices` : 'no device matches');
    return body.failed.length ? 1 : 0;
  }
  if (!ctx.json) process.stderr.write(`deleting ${names.length} devices\n`);
  const line = new StatusLine(process.stderr, 1000);
  const deadline = Date.now() + ctx.timeoutMs;
  for (;;) {
    // (The same filters still select what is left of them; a device created since is not counted.)
    const left = new Set((await listEvery(ctx, '/devices', filters)).map((d: any) => d.metadata.name));
    const remaining = names.filter((n) => left.has(n)).length;
    line.update(`${progressBar(names.length - remaining, names.length)} deleted`, remaining === 0);
    if (remaining === 0) {
      line.done();
      if (ctx.json) ctx.out(JSON.stringify(body, null, 2));
      else ctx.out(`${names.length} devices deleted`);
      return body.failed.length ? 1 : 0;
    }
    if (Date.now() > deadline) {
      line.done();
      process.stderr.write(
        `timed out after ${ctx.timeoutMs / 1000} s; ${remaining} of ${names.length} not deleted yet\n`,
      );
      return 3;
    }
    await sleep(500);
  }
}

// ---- enrollment (docs/enrollment.md) ------------------------------------------------------

async function enrollmentToken(ctx: Ctx, sub: string | undefined, arg: string | undefined): Promise<number> {
  switch (sub) {
    case 'create': {
      const body: Record<string, unknown> = {};
      if (ctx.values.name) body.name = ctx.values.name;
      if (ctx.values.ttl) body.ttl = /^\d+$/.test(ctx.values.ttl) ? Number(ctx.values.ttl) : ctx.values.ttl;
      const { body: token } = await ctx.api.request('POST', '/enrollment-tokens', body);
      if (ctx.json) ctx.out(JSON.stringify(token));
      else {
        ctx.out(token.token);
        process.stderr.write(
          `token ${token.id} for ${token.name ?? 'any device name'}, single use, expires ${token.expiresAt}; it is not shown again\n`,
        );
      }
      return 0;
    }
    case 'list':
    case 'ls': {
      const items = await listEvery(ctx, '/enrollment-tokens');
      if (ctx.json) ctx.out(JSON.stringify({ items }, null, 2));
      else
        ctx.out(
          table(
            ['ID', 'KIND', 'DEVICE', 'STATE', 'EXPIRES', 'USED BY'],
            items.map((c: any) => [c.id, c.kind, c.deviceName ?? '*', c.state, c.expiresAt, c.usedBy ?? '']),
          ),
        );
      return 0;
    }
    case 'revoke': {
      const id = need(arg, 'token id');
      const { body } = await ctx.api.request('DELETE', `/enrollment-tokens/${encodeURIComponent(id)}`);
      ctx.out(ctx.json ? JSON.stringify(body) : `${id} ${body.state}`);
      return 0;
    }
    default:
      throw new CliError(`unknown enrollment-token command "${sub ?? ''}"\n\n${USAGE}`, 2);
  }
}

async function claimCertCreate(ctx: Ctx, name: string): Promise<number> {
  const body: Record<string, unknown> = { name };
  if (ctx.values.ttl) body.ttl = /^\d+$/.test(ctx.values.ttl) ? Number(ctx.values.ttl) : ctx.values.ttl;
  const { body: claim } = await ctx.api.request('POST', '/claim-certificates', body);
  const dir = path.resolve(ctx.values.out ?? '.');
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, `${name}.claim.crt`);
  const key = path.join(dir, `${name}.claim.key`);
  fs.writeFileSync(cert, claim.certPem);
  fs.writeFileSync(key, claim.keyPem, { mode: 0o600 });
  ctx.out(
    ctx.json ? JSON.stringify({ id: claim.id, cert, key, expiresAt: claim.expiresAt }) : `${cert}\n${key}`,
  );
  if (!ctx.json)
    process.stderr.write(`claim certificate ${claim.id} for ${name}, expires ${claim.expiresAt}\n`);
  return 0;
}

async function enrollment(ctx: Ctx, sub: string | undefined, arg: string | undefined): Promise<number> {
  switch (sub) {
    case 'list':
    case 'ls': {
      const items = await listEvery(ctx, '/enrollments');
      if (ctx.json) ctx.out(JSON.stringify({ items }, null, 2));
      else
        ctx.out(
          table(
            ['NAME', 'CSR FINGERPRINT', 'KEY', 'SOURCE', 'CLAIM', 'AGE'],
            items.map((e: any) => [
              e.name,
              e.csrFingerprint,
              e.keyType ?? '',
              e.sourceAddress ?? '',
              e.claim ?? '',
              age(e.requestedAt ?? undefined),
            ]),
          ),
        );
      return 0;
    }
    case 'approve':
    case 'reject': {
      const name = need(arg, 'device name');
      const body = sub === 'reject' && ctx.values.reason ? { reason: ctx.values.reason } : undefined;
      const { body: result } = await ctx.api.request(
        'POST',
        `/enrollments/${encodeURIComponent(name)}/${sub}`,
        body,
      );
      ctx.out(
        ctx.json
          ? JSON.stringify(result)
          : `${sub === 'approve' ? 'approved' : 'rejected'} ${name} (${result.workflowId})`,
      );
      return 0;
    }
    default:
      throw new CliError(`unknown enrollment command "${sub ?? ''}"\n\n${USAGE}`, 2);
  }
}

// ---- applications -----------------------------------------------------------------------

function appRow(a: any): (string | number | undefined)[] {
  const c = a.status?.counts ?? {};
  return [
    a.metadata.name,
    a.status?.phase,
    a.spec?.strategy?.type,
    `${c.running ?? 0}/${c.targeted ?? 0}`,
    c.failed ?? 0,
    age(a.metadata.creationTimestamp),
    a.status?.message ?? '',
  ];
}

const SETTLED = new Set(['Running', 'PartiallyRunning', 'Failed', 'RolledBack', 'Stopped']);

const SAY_WHERE = 'say where to deploy: exactly one of --to d1,d2, --selector k=v or --all';

/** Where to deploy, from --to, --selector or --all; undefined when none is given. */
function targetOption(v: Values): Record<string, unknown> | undefined {
  const forms = [v.to !== undefined, v.selector !== undefined, v.all === true].filter(Boolean).length;
  if (forms === 0) return undefined;
  if (forms > 1) throw new CliError(SAY_WHERE, 2);
  if (v.all) return { all: true };
  if (v.selector) return { selector: parseKeyValues(v.selector, '--selector') };
  return {
    devices: v
      .to!.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

/** The strategy fields given as options (the rest are the platform's defaults, or kept on update). */
function strategyOptions(v: Values): Record<string, unknown> {
  const strategy: Record<string, unknown> = {};
  if (v.strategy) strategy.type = v.strategy;
  if (v['max-unavailable'] !== undefined)
    strategy.maxUnavailable = countOrPercentOption(v, 'max-unavailable');
  if (v.canary !== undefined) strategy.canary = countOrPercentOption(v, 'canary');
  if (v['pause-after-canary']) strategy.pauseAfterCanary = true;
  if (v['failure-threshold'] !== undefined) strategy.failureThreshold = intOption(v, 'failure-threshold');
  return strategy;
}

/** Uploads the module (POST /modules): the stored module's sha256 and size. */
async function uploadModule(ctx: Ctx, file: string): Promise<{ sha256: string; size: number }> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, 2);
  }
  const uploaded = await ctx.api.request('POST', '/modules', new Uint8Array(bytes), {
    contentType: 'application/wasm',
  });
  return uploaded.body;
}

async function appDeploy(ctx: Ctx, file: string): Promise<number> {
  const v = ctx.values;
  const target = targetOption(v);
  if (!target) throw new CliError(SAY_WHERE, 2);
  const name =
    v.name ??
    path
      .basename(file)
      .replace(/\.wasm$/, '')
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-');
  const uploaded = await uploadModule(ctx, file);
  const body: Record<string, unknown> = {
    name,
    moduleSha256: uploaded.sha256,
    target,
    strategy: strategyOptions(v),
    env: parseKeyValues(v.env, '--env'),
    args: v.arg ?? [],
  };
  if (v.entry) body.entry = v.entry;
  if (v['memory-pages'] !== undefined) body.limits = { memoryPages: intOption(v, 'memory-pages') };
  const { body: created } = await ctx.api.request('POST', '/applications', body).catch((err: unknown) => {
    if (err instanceof ApiError && err.code === 'AlreadyExists')
      throw new CliError(`${err.message}; a new version of it: wasmbed app update ${name} ${file}`);
    throw err;
  });
  if (!ctx.json)
    process.stderr.write(
      `application ${name} (${uploaded.size} B, sha256 ${uploaded.sha256.slice(0, 12)}) rolling out as ${created.workflowId}\n`,
    );
  return watchRollout(ctx, name, created);
}

/**
 * A new version of a running application (PUT /applications/NAME): a new module when FILE is
 * given, and any option given replaces that setting; the rest stay as they are. A rollout that
 * fails goes back to the version that ran before.
 */
async function appUpdate(ctx: Ctx, name: string, file: string | undefined): Promise<number> {
  const v = ctx.values;
  const { body: current } = await ctx.api.request('GET', `/applications/${encodeURIComponent(name)}`);
  const spec = current.spec;
  const uploaded = file ? await uploadModule(ctx, file) : spec.module;
  const strategy = strategyOptions(v);
  const given = {
    target: targetOption(v),
    env: v.env ? parseKeyValues(v.env, '--env') : undefined,
    args: v.arg,
    entry: v.entry,
    limits:
      v['memory-pages'] !== undefined
        ? { ...spec.limits, memoryPages: intOption(v, 'memory-pages') }
        : undefined,
  };
  if (!file && Object.values(given).every((value) => value === undefined) && !Object.keys(strategy).length)
    throw new CliError('nothing to update: give a new .wasm file or an option to change', 2);
  const body = {
    name,
    moduleSha256: uploaded.sha256,
    target: given.target ?? spec.target,
    strategy: { ...spec.strategy, ...strategy },
    env: given.env ?? spec.env,
    args: given.args ?? spec.args,
    entry: given.entry ?? spec.entry,
    limits: given.limits ?? spec.limits,
  };
  const { body: started } = await ctx.api.request('PUT', `/applications/${encodeURIComponent(name)}`, body);
  if (!ctx.json)
    process.stderr.write(
      `application ${name} (${uploaded.size} B, sha256 ${uploaded.sha256.slice(0, 12)}) updating as ${started.workflowId}\n`,
    );
  return watchRollout(ctx, name, started);
}

/** With --detach, prints what the API answered; else a progress bar until the rollout settles. */
async function watchRollout(ctx: Ctx, name: string, started: unknown): Promise<number> {
  const v = ctx.values;
  if (v.detach) {
    if (ctx.json) ctx.out(JSON.stringify(started));
    return 0;
  }
  const line = new StatusLine();
  const deadline = Date.now() + ctx.timeoutMs;
  let toldToPromote = false;
  for (;;) {
    const { body: a } = await ctx.api.request('GET', `/applications/${encodeURIComponent(name)}`);
    const c = a.status?.counts ?? { targeted: 0, running: 0, failed: 0, pending: 0 };
    const phase = a.status?.phase;
    line.update(
      `${name} ${progressBar(c.running, c.targeted)} running, ${c.failed} failed, ${c.pending} pending · ${phase}`,
    );
    if (a.status?.awaitingPromotion && !toldToPromote) {
      toldToPromote = true;
      line.done();
      process.stderr.write(
        `canary wave done; continue with: wasmbed app promote ${name} (or roll it back: wasmbed app abort ${name})\n`,
      );
    }
    if (SETTLED.has(phase)) {
      line.done();
      if (ctx.json) ctx.out(JSON.stringify(a, null, 2));
      else {
        ctx.out(
          table(
            ['DEVICE', 'STATE', 'ERROR'],
            Object.entries(a.status.devices ?? {}).map(([d, s]: [string, any]) => [
              d,
              appDeviceStateLabel(s, a.status.awaitingPromotion),
              s.error ?? '',
            ]),
          ),
        );
        ctx.out(`${name}: ${phase}${a.status.message ? ` — ${a.status.message}` : ''}`);
      }
      return phase === 'Running' ? 0 : 1;
    }
    if (Date.now() > deadline) {
      line.done();
      process.stderr.write(`timed out; ${name} is ${phase}\n`);
      return 3;
    }
    await sleep(400);
  }
}

/** A module as `app get` shows it: the start of its hash (as `git log` shows a commit) and its size. */
const moduleLabel = (m: { sha256: string; size: number }) => `${m.sha256.slice(0, 12)} (${m.size} bytes)`;

async function app(ctx: Ctx, sub: string | undefined, arg: string | undefined): Promise<number> {
  switch (sub) {
    case 'list': {
      const items = await listEvery(ctx, '/applications', {
        phase: ctx.values.phase,
        labelSelector: ctx.values.label?.join(','),
        namePrefix: ctx.values.prefix,
      });
      ctx.out(
        ctx.json
          ? JSON.stringify({ items }, null, 2)
          : table(['NAME', 'PHASE', 'STRATEGY', 'RUNNING', 'FAILED', 'AGE', 'MESSAGE'], items.map(appRow)),
      );
      return 0;
    }
    case 'get': {
      const { body } = await ctx.api.request(
        'GET',
        `/applications/${encodeURIComponent(need(arg, 'application name'))}`,
      );
      if (ctx.json) ctx.out(JSON.stringify(body, null, 2));
      else {
        ctx.out(table(['NAME', 'PHASE', 'STRATEGY', 'RUNNING', 'FAILED', 'AGE', 'MESSAGE'], [appRow(body)]));
        ctx.out('');
        // Which version is which: after an update, the one asked for, the one on the devices and
        // the one a failing rollout goes back to.
        ctx.out(`Strategy: ${strategyText(body.spec.strategy)}`);
        ctx.out(`Module:   ${moduleLabel(body.spec.module)}`);
        const { currentModule, previousModule } = body.status ?? {};
        if (currentModule && currentModule.sha256 !== body.spec.module.sha256)
          ctx.out(`Running:  ${moduleLabel(currentModule)}`);
        if (previousModule) ctx.out(`Previous: ${moduleLabel(previousModule)}`);
        ctx.out('');
        ctx.out(
          table(
            ['DEVICE', 'STATE', 'RESTARTS', 'ERROR'],
            // A device the rollout has not reached says so, with the state of what it kept.
            Object.entries(body.status.devices ?? {}).map(([d, s]: [string, any]) => [
              d,
              appDeviceStateLabel(s, body.status.awaitingPromotion),
              s.restarts,
              s.error ?? '',
            ]),
          ),
        );
      }
      return 0;
    }
    case 'promote':
    case 'abort':
    case 'stop':
    case 'delete': {
      const name = need(arg, 'application name');
      const { body } =
        sub === 'delete'
          ? await ctx.api.request('DELETE', `/applications/${encodeURIComponent(name)}`)
          : await ctx.api.request('POST', `/applications/${encodeURIComponent(name)}/${sub}`);
      ctx.out(ctx.json ? JSON.stringify(body) : `${sub} ${name}: ok`);
      return 0;
    }
    case 'deploy':
      return appDeploy(ctx, need(arg, 'the .wasm file'));
    case 'update':
      return appUpdate(ctx, need(arg, 'application name'), ctx.more[0]);
    default:
      throw new CliError(`unknown app command "${sub ?? ''}"\n\n${USAGE}`, 2);
  }
}

// ---- logs, status, up -------------------------------------------------------------------

async function logs(ctx: Ctx, device: string): Promise<number> {
  let after = 0;
  const q = (extra: string) =>
    `/devices/${encodeURIComponent(device)}/logs?after=${after}${ctx.values.app ? `&app=${encodeURIComponent(ctx.values.app)}` : ''}${extra}`;
  let stop = false;
  process.once('SIGINT', () => {
    stop = true;
  });
  let first = true;
  while (!stop) {
    const { body } = await ctx.api.request('GET', q(first ? '&limit=200' : '&limit=1000'));
    first = false;
    for (const e of body.items) {
      after = e.id;
      if (ctx.json) ctx.out(JSON.stringify(e));
      else
        ctx.out(
          `${e.time} ${(e.appId ?? 'uart').padEnd(10)} ${e.kind === 'publish' ? 'publish ' : ''}${e.message}`,
        );
    }
    if (!ctx.values.follow) return 0;
    await sleep(500);
  }
  return 0;
}

async function status(ctx: Ctx): Promise<number> {
  const { body } = await ctx.api.request('GET', '/health');
  if (ctx.json) ctx.out(JSON.stringify(body, null, 2));
  else
    ctx.out(
      table(
        ['PROCESS', 'KIND', 'STATUS', 'DETAIL'],
        body.processes.map((p: any) => [p.name, p.kind, p.status, p.detail]),
      ),
    );
  return body.processes.every((p: any) => p.status === 'ok') ? 0 : 1;
}

function up(): Promise<number> {
  return new Promise((resolve) => {
    const setup = spawn(process.execPath, [path.join(ROOT, 'scripts', 'setup.mjs')], {
      cwd: ROOT,
      stdio: 'inherit',
    });
    setup.on('exit', (code) => {
      if (code !== 0) return resolve(code ?? 1);
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'start.ts')], {
        cwd: ROOT,
        stdio: 'inherit',
      });
      const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
      process.on('SIGINT', forward('SIGINT'));
      process.on('SIGTERM', forward('SIGTERM'));
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 0 : 1)));
    });
  });
}

// ---- main -------------------------------------------------------------------------------

export async function main(
  argv: string[],
  out: (text: string) => void = (t) => process.stdout.write(`${t}\n`),
): Promise<number> {
  const { key, values, positionals } = parseCommandLine(argv);
  const [command, sub, arg] = positionals;
  if (key === undefined) {
    out(USAGE);
    return command || values.help ? 0 : 2;
  }
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json')
    throw new CliError(`-o must be table or json, not "${output}"`, 2);
  const timeout = values.timeout === undefined ? 180 : Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0)
    throw new CliError('--timeout must be a positive number of seconds', 2);
  const baseUrl = (values.url ?? process.env.WASMBED_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
  const ctx: Ctx = {
    api: new ApiClient(baseUrl, process.env.WASMBED_API_TOKEN || undefined),
    json: output === 'json',
    values,
    more: positionals.slice(3),
    timeoutMs: timeout * 1000,
    out,
  };
  switch (command) {
    case 'up':
      return up();
    case 'status':
      return status(ctx);
    case 'logs':
      return logs(ctx, need(sub, 'device name'));
    case 'app':
    case 'apps':
      return app(ctx, sub, arg);
    case 'enrollment-token':
    case 'enrollment-tokens':
      return enrollmentToken(ctx, sub, arg);
    case 'claim-cert':
      if (sub !== 'create') throw new CliError(`unknown claim-cert command "${sub ?? ''}"\n\n${USAGE}`, 2);
      return claimCertCreate(ctx, need(arg, 'device name'));
    case 'enrollment':
    case 'enrollments':
      return enrollment(ctx, sub, arg);
    case 'ca':
      ctx.out(String((await ctx.api.request('GET', '/pki/ca.pem')).body).trimEnd());
      return 0;
    case 'device':
    case 'devices':
      switch (sub) {
        case 'list':
        case 'ls':
          return deviceList(ctx);
        case 'get':
          return deviceGet(ctx, need(arg, 'device name'));
        case 'create':
          return deviceCreate(ctx, need(arg, 'device name'));
        case 'create-batch':
          return deviceCreateBatch(ctx);
        case 'batch-status':
          return watchBatch(batchContext(ctx), need(arg, 'batch name'));
        case 'delete': {
          const filtered = DEVICE_FILTER_OPTIONS.some((o) => values[o] !== undefined);
          if (filtered && arg !== undefined)
            throw new CliError('device delete takes a NAME or filters (--label, --prefix, …), not both', 2);
          return filtered
            ? deviceDeleteMany(ctx)
            : deviceAction(ctx, sub, need(arg, 'device name or filters'));
        }
        case 'retry':
        case 'restart':
          return deviceAction(ctx, sub, need(arg, 'device name'));
        case 'rotate-certificate':
          return deviceRotateCertificate(ctx, need(arg, 'device name'));
        default:
          throw new CliError(`unknown device command "${sub ?? ''}"\n\n${USAGE}`, 2);
      }
    default:
      throw new CliError(`unknown command "${command}"\n\n${USAGE}`, 2);
  }
}

const invokedDirectly =
  process.argv[1] && /cli[\\/](main\.mjs|wasmbed\.ts)$/.test(fs.realpathSync(process.argv[1]));
/**
 * Exits once stdout and stderr have taken everything: written to a pipe they are asynchronous,
 * and exiting at once cut `wasmbed device list -o json | jq` off at 64 KiB. (Waiting for the
 * event loop to empty instead would wait for fetch's idle keep-alive sockets.)
 */
function exitWhenFlushed(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

if (invokedDirectly) {
  main(process.argv.slice(2)).then(exitWhenFlushed, (err: unknown) => {
    process.stderr.write(`wasmbed: ${errorMessage(err)}\n`);
    exitWhenFlushed(err instanceof CliError ? err.exitCode : 1);
  });
}
