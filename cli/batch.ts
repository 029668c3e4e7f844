/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI prints loosely typed JSON from the API */
/**
 * `wasmbed device create-batch` and `wasmbed device batch-status`: many devices through
 * `POST /api/v1/device-batches`, then a progress bar over the batch's devices by phase
 * (`GET /api/v1/device-batches/NAME`) until every device is Connected or Failed.
 */
import fs from 'node:fs';
import { DEVICE_PHASES } from '../common/resources.js';
import { CliError, StatusLine, listAll, progressBar, sleep, table, type ApiClient } from './lib.js';

export interface BatchContext {
  api: ApiClient;
  json: boolean;
  timeoutMs: number;
  out: (text: string) => void;
  watch: boolean;
}

export interface BatchOptions {
  name?: string;
  count?: number;
  prefix?: string;
  start?: number;
  /** A JSON file: a list of device specs, or an object with `devices`. */
  file?: string;
  mcuType?: string;
  runtime?: string;
  gateway?: string;
  labels?: Record<string, string>;
}

function readSpecs(file: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CliError(`cannot read device specs from ${file}: ${(err as Error).message}`, 2);
  }
  const devices = Array.isArray(parsed) ? parsed : (parsed as { devices?: unknown })?.devices;
  if (!Array.isArray(devices)) throw new CliError(`${file}: expected a JSON list of device specs`, 2);
  return devices;
}

export async function createBatch(ctx: BatchContext, options: BatchOptions): Promise<number> {
  if ((options.count === undefined) === (options.file === undefined)) {
    throw new CliError('say which devices: --count N --prefix P, or --file specs.json', 2);
  }
  if (options.count !== undefined && !options.prefix) throw new CliError('--count needs --prefix', 2);
  const body: Record<string, unknown> = {};
  if (options.name) body.name = options.name;
  if (options.count !== undefined) {
    body.count = options.count;
    body.prefix = options.prefix;
    if (options.start !== undefined) body.start = options.start;
  } else body.devices = readSpecs(options.file!);
  if (options.mcuType) body.mcuType = options.mcuType;
  if (options.runtime) body.runtime = options.runtime;
  if (options.gateway) body.gateway = options.gateway;
  if (options.labels && Object.keys(options.labels).length) body.labels = options.labels;
  const started = Date.now();
  const { body: created } = await ctx.api.request('POST', '/device-batches', body);
  const took = ((Date.now() - started) / 1000).toFixed(1);
  for (const f of created.failed) process.stderr.write(`${f.name}: not started: ${f.message}\n`);
  if (!ctx.watch) {
    ctx.out(
      ctx.json
        ? JSON.stringify(created)
        : `batch ${created.name}: ${created.started} of ${created.total} devices created and provisioning (${took} s); follow with: wasmbed device batch-status ${created.name} --watch`,
    );
    return created.failed.length ? 1 : 0;
  }
  if (!ctx.json)
    process.stderr.write(
      `batch ${created.name}: ${created.started} of ${created.total} devices provisioning (${took} s)\n`,
    );
  const code = await watchBatch(ctx, created.name, started);
  return created.failed.length && code === 0 ? 1 : code;
}

function progressText(name: string, p: any, since: number): string {
  const connected = p.counts.Connected ?? 0;
  const others = DEVICE_PHASES.filter((phase) => phase !== 'Connected' && p.counts[phase])
    .map((phase) => `${phase} ${p.counts[phase]}`)
    .join(' · ');
  const seconds = (Date.now() - since) / 1000;
  const rate = seconds > 0 ? ` · ${(connected / seconds).toFixed(1)}/s` : '';
  return `${name} ${progressBar(connected, p.total)} Connected${others ? ` · ${others}` : ''}${rate}`;
}

/** Follows a batch until it settles: 0 all Connected, 1 some Failed, 3 timed out. */
export async function watchBatch(ctx: BatchContext, name: string, since = Date.now()): Promise<number> {
  const path = `/device-batches/${encodeURIComponent(name)}`;
  if (!ctx.watch) {
    const { body: p } = await ctx.api.request('GET', path);
    const counts = DEVICE_PHASES.filter((phase) => p.counts[phase]).map(
      (phase) => `${phase} ${p.counts[phase]}`,
    );
    ctx.out(ctx.json ? JSON.stringify(p) : `batch ${name}: ${p.total} devices · ${counts.join(' · ')}`);
    return 0;
  }
  const line = new StatusLine(process.stderr, 1000);
  const deadline = Date.now() + ctx.timeoutMs;
  for (;;) {
    const { body: p } = await ctx.api.request('GET', path);
    const settled: boolean = p.settled;
    line.update(progressText(name, p, since), settled);
    if (settled) {
      line.done();
      const failed = p.counts.Failed
        ? await listAll(ctx.api, '/devices', { labelSelector: `wasmbed.io/batch=${name}`, phase: 'Failed' })
        : [];
      if (ctx.json) ctx.out(JSON.stringify(p));
      else {
        if (failed.length)
          ctx.out(
            table(
              ['NAME', 'MESSAGE'],
              failed.map((d: any) => [d.metadata.name, d.status?.message ?? '']),
            ),
          );
        ctx.out(
          `batch ${name}: ${p.counts.Connected ?? 0} of ${p.total} Connected, ${p.counts.Failed ?? 0} Failed`,
        );
      }
      return failed.length ? 1 : 0;
    }
    if (Date.now() > deadline) {
      line.done();
      process.stderr.write(`timed out after ${ctx.timeoutMs / 1000} s; ${progressText(name, p, since)}\n`);
      return 3;
    }
    await sleep(500);
  }
}
