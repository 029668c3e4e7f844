/**
 * An application sent as multipart/form-data (`POST /api/v1/applications` with a `wasm` file
 * part, or the dashboard's upload form) turned into the same body as the JSON request, so one
 * validation (common/validation.ts) and one service (services/application-service.ts) handle both.
 *
 * Fields: `wasm` (file, required), `name`, `entry`; the target as `target` (JSON) or as one of
 * `devices` (comma-separated names), `selector` (`key=value,…`), `all` (true/on/1); the
 * strategy as `strategy` (JSON, or just the type) plus `maxUnavailable`, `canary` (a number, or a
 * percentage such as `25%`),
 * `pauseAfterCanary`, `failureThreshold`; the limits as `limits` (JSON) or `memoryPages`,
 * `cpuMsPerCall`; `env` (JSON object of strings) and `args` (JSON array of strings). Empty
 * fields count as absent (an HTML form sends its untouched inputs).
 */
import type { Request } from 'express';
import { UnprocessableError, ValidationError } from '../common/errors.js';
import { MAX_MODULE_BYTES } from '../services/application-service.js';
import { parseMultipart, type MultipartForm } from './multipart.js';

const STRATEGY_FIELDS = ['maxUnavailable', 'canary', 'pauseAfterCanary', 'failureThreshold'] as const;
const LIMIT_FIELDS = ['memoryPages', 'cpuMsPerCall'] as const;
const TARGET_FIELDS = ['devices', 'selector', 'all'] as const;

export const APPLICATION_FORM = {
  files: ['wasm'],
  fields: [
    'name',
    'entry',
    'target',
    ...TARGET_FIELDS,
    'strategy',
    ...STRATEGY_FIELDS,
    'limits',
    ...LIMIT_FIELDS,
    'env',
    'args',
  ],
} as const;

/** The module plus room for the other fields and the multipart framing. */
export const APPLICATION_FORM_LIMITS = {
  maxBodyBytes: MAX_MODULE_BYTES + 64 * 1024,
  maxFieldBytes: 16 * 1024,
  maxParts: APPLICATION_FORM.files.length + APPLICATION_FORM.fields.length,
};

function json(field: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ValidationError(field, `${field} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function integer(field: string, text: string): number {
  if (!/^\d{1,9}$/.test(text)) {
    throw new ValidationError(field, `${field} must be a non-negative integer, got "${text}"`);
  }
  return Number(text);
}

function boolean(field: string, text: string): boolean {
  if (/^(true|on|1|yes)$/i.test(text)) return true;
  if (/^(false|off|0|no)$/i.test(text)) return false;
  throw new ValidationError(field, `${field} must be true or false, got "${text}"`);
}

/** `a=1, b=2` → {a: '1', b: '2'} */
function labels(field: string, text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ValidationError(field, `${field}: "${part.trim()}" is not key=value`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** The simple fields given; refused when the JSON field is given too. */
function oneWay(
  form: MultipartForm,
  jsonField: string,
  jsonGiven: boolean,
  simple: readonly string[],
): string[] {
  const given = simple.filter((f) => form.fields.has(f));
  if (jsonGiven && given.length > 0) {
    throw new ValidationError(
      jsonField,
      `give ${jsonField} as JSON or as the fields ${simple.join(', ')}, not both (got ${jsonField} and ${given.join(', ')})`,
    );
  }
  return given;
}

/** The JSON-shaped create body for a parsed form (validated afterwards like a JSON request). */
export function applicationBodyFromForm(form: MultipartForm): Record<string, unknown> {
  const wasm = form.files.get('wasm');
  if (!wasm) {
    throw new ValidationError(
      'wasm',
      'the WebAssembly module is missing: send it as a file part named "wasm"',
    );
  }
  // Well-formed, but no module: a content error like any other invalid module (422).
  if (wasm.bytes.length === 0) throw new UnprocessableError('wasm', `the file "${wasm.filename}" is empty`);
  const f = form.fields;
  const body: Record<string, unknown> = { wasm: Buffer.from(wasm.bytes).toString('base64') };
  if (f.has('name')) body.name = f.get('name');
  if (f.has('entry')) body.entry = f.get('entry');

  const targetFields = oneWay(form, 'target', f.has('target'), TARGET_FIELDS);
  if (f.has('target')) body.target = json('target', f.get('target')!);
  else if (targetFields.length > 1) {
    throw new ValidationError(
      'target',
      `give exactly one of devices, selector or all (got ${targetFields.join(', ')})`,
    );
  } else if (f.has('devices')) {
    body.target = {
      devices: f
        .get('devices')!
        .split(',')
        .map((d) => d.trim())
        .filter(Boolean),
    };
  } else if (f.has('selector')) body.target = { selector: labels('selector', f.get('selector')!) };
  else if (f.has('all')) {
    if (!boolean('all', f.get('all')!)) {
      throw new ValidationError('all', 'all=false targets nothing: give devices or a selector instead');
    }
    body.target = { all: true };
  }

  // `strategy` is JSON when it is an object, else just the type (the dashboard's select).
  const strategyText = f.get('strategy');
  const strategyJson = strategyText?.startsWith('{') ?? false;
  const strategyFields = oneWay(form, 'strategy', strategyJson, STRATEGY_FIELDS);
  if (strategyJson) body.strategy = json('strategy', strategyText!);
  else if (strategyText !== undefined || strategyFields.length > 0) {
    const strategy: Record<string, unknown> = {};
    if (strategyText !== undefined) strategy.type = strategyText;
    for (const field of strategyFields) {
      const text = f.get(field)!;
      strategy[field] =
        field === 'pauseAfterCanary'
          ? boolean(`strategy.${field}`, text)
          : field === 'failureThreshold'
            ? integer(`strategy.${field}`, text)
            : // A count, or else the text as it is ("25%"): the validation knows a wave size's
              // spelling and names both in its refusal ("two" was refused here as no integer).
              /^\d{1,9}$/.test(text)
              ? Number(text)
              : text;
    }
    body.strategy = strategy;
  }

  const limitFields = oneWay(form, 'limits', f.has('limits'), LIMIT_FIELDS);
  if (f.has('limits')) body.limits = json('limits', f.get('limits')!);
  else if (limitFields.length > 0) {
    body.limits = Object.fromEntries(limitFields.map((k) => [k, integer(`limits.${k}`, f.get(k)!)]));
  }
  if (f.has('env')) body.env = json('env', f.get('env')!);
  if (f.has('args')) body.args = json('args', f.get('args')!);
  return body;
}

/** Reads a multipart application request into the JSON-shaped create body. */
export async function readApplicationForm(req: Request): Promise<Record<string, unknown>> {
  return applicationBodyFromForm(await parseMultipart(req, APPLICATION_FORM, APPLICATION_FORM_LIMITS));
}
