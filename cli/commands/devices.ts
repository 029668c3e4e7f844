/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI prints loosely typed JSON from the API */
/**
 * `wasmbed device …`: list, get, create (one or a batch), retry, restart, delete and
 * rotate-certificate; the longer ones are in their own files beside this one.
 */
import path from 'node:path';
import { createBatch, watchBatch } from '../batch.js';
import { DEVICE_FILTER_OPTIONS } from '../command-line.js';
import { intOption, listEvery, need, type CommandContext } from '../command-context.js';
import { CliError, age, parseKeyValues, table } from '../lib.js';
import { USAGE } from '../usage.js';
import { deviceDeleteMany } from './device-delete-many.js';
import { deviceFilters } from './device-filters.js';
import { deviceRotateCertificate } from './device-rotate-certificate.js';
import { watchDevice } from './device-watch.js';

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

async function deviceList(ctx: CommandContext): Promise<number> {
  const items = await listEvery(ctx, '/devices', deviceFilters(ctx.values));
  if (ctx.json) ctx.out(JSON.stringify({ items }, null, 2));
  else
    ctx.out(
      table(['NAME', 'PHASE', 'MCU', 'GATEWAY', 'STEPS', 'LABELS', 'AGE', 'MESSAGE'], items.map(deviceRow)),
    );
  return 0;
}

function batchContext(ctx: CommandContext) {
  return {
    api: ctx.api,
    json: ctx.json,
    timeoutMs: ctx.timeoutMs,
    out: ctx.out,
    watch: ctx.values.watch === true,
  };
}

function deviceCreateBatch(ctx: CommandContext): Promise<number> {
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

async function deviceGet(ctx: CommandContext, name: string): Promise<number> {
  const { body } = await ctx.api.request('GET', `/devices/${encodeURIComponent(name)}`);
  ctx.out(ctx.json ? JSON.stringify(body, null, 2) : describeDevice(body));
  return 0;
}

async function deviceCreate(ctx: CommandContext, name: string): Promise<number> {
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

async function deviceAction(
  ctx: CommandContext,
  action: 'retry' | 'restart' | 'delete',
  name: string,
): Promise<number> {
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

/** `wasmbed device SUB [ARG]`. */
export async function device(
  ctx: CommandContext,
  sub: string | undefined,
  arg: string | undefined,
): Promise<number> {
  switch (sub) {
    case 'list':
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
      const filtered = DEVICE_FILTER_OPTIONS.some((o) => ctx.values[o] !== undefined);
      if (filtered && arg !== undefined)
        throw new CliError('device delete takes a NAME or filters (--label, --prefix, …), not both', 2);
      return filtered ? deviceDeleteMany(ctx) : deviceAction(ctx, sub, need(arg, 'device name or filters'));
    }
    case 'retry':
    case 'restart':
      return deviceAction(ctx, sub, need(arg, 'device name'));
    case 'rotate-certificate':
      return deviceRotateCertificate(ctx, need(arg, 'device name'));
    default:
      throw new CliError(`unknown device command "${sub ?? ''}"\n\n${USAGE}`, 2);
  }
}
