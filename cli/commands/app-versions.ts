/**
 * `wasmbed app deploy` and `wasmbed app update`: a module uploaded and an application's first or
 * next version rolled out.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ApiError, CliError, parseKeyValues } from '../lib.js';
import { countOrPercentOption, intOption, type CommandContext } from '../command-context.js';
import type { Values } from '../command-line.js';
import { watchRollout } from './app-rollout-watch.js';

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
  // (An update keeps the strategy's other settings: without the negative form, an app that once
  // paused after its canary would pause at every rollout for good.)
  if (v['pause-after-canary'] && v['no-pause-after-canary'])
    throw new CliError('--pause-after-canary and --no-pause-after-canary: give one', 2);
  if (v['pause-after-canary']) strategy.pauseAfterCanary = true;
  if (v['no-pause-after-canary']) strategy.pauseAfterCanary = false;
  if (v['failure-threshold'] !== undefined) strategy.failureThreshold = intOption(v, 'failure-threshold');
  return strategy;
}

/** Uploads the module (POST /modules): the stored module's sha256 and size. */
async function uploadModule(ctx: CommandContext, file: string): Promise<{ sha256: string; size: number }> {
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

export async function appDeploy(ctx: CommandContext, file: string): Promise<number> {
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
export async function appUpdate(
  ctx: CommandContext,
  name: string,
  file: string | undefined,
): Promise<number> {
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
