/**
 * Input validation shared by the API and the workflows. Workflow-safe: no Node built-ins.
 * Every failure names the offending field so a user can fix it without reading code.
 */
import { ValidationError } from './errors.js';
import {
  DNS_LABEL_MESSAGE,
  EXPORT_NAME_PATTERN,
  LABEL_KEY_MAX_LENGTH,
  LABEL_KEY_MESSAGE,
  LABEL_KEY_PATTERN,
  LABEL_VALUE_MAX_LENGTH,
  LABEL_VALUE_MESSAGE,
  LABEL_VALUE_PATTERN,
  SHA256_HEX_PATTERN,
  isDnsLabel,
} from './names.js';
import {
  ENROLLMENT_REQUIRED_WITH_EXTERNAL,
  MEMORY_PAGES_MAX,
  RUNTIME_CHOICES,
  RUNTIME_WITH_ENROLLMENT,
  boardCannotRun,
  boardRequiredWith,
  boardsFor,
  isEmulatedRuntime,
} from './schemas.js';
import { DEFAULT_MCU_TYPE, MCU_TYPES, isMcuType } from './mcu-profiles.js';
import { DEFAULT_MAX_UNAVAILABLE, isCountOrPercent, type CountOrPercent } from './rollout-count.js';
import {
  DEVICE_RUNTIMES,
  ROLLOUT_STRATEGIES,
  type ApplicationSpec,
  type DeviceRuntime,
  type DeviceSpec,
  type RolloutStrategyType,
} from './resources.js';

const LABEL_KEY = new RegExp(LABEL_KEY_PATTERN);
const LABEL_VALUE = new RegExp(LABEL_VALUE_PATTERN);
const SHA256_HEX = new RegExp(SHA256_HEX_PATTERN);
const EXPORT_NAME = new RegExp(EXPORT_NAME_PATTERN);

/** RFC 1123 label: what Kubernetes accepts as a name and what fits in a certificate CN. */
export function validateDnsLabel(field: string, value: unknown): string {
  if (value === undefined) throw new ValidationError(field, `${field} is required`);
  if (typeof value !== 'string') throw new ValidationError(field, `${field} must be a string`);
  if (!isDnsLabel(value)) {
    throw new ValidationError(field, `${field} "${value}" ${DNS_LABEL_MESSAGE}`);
  }
  return value;
}

/** Runtimes this build can provision. Others are part of the model but not yet implemented here. */
export const SUPPORTED_RUNTIMES: readonly DeviceRuntime[] = ['virtual', 'docker', 'qemu', 'renode'];

export interface DeviceCreateInput {
  name: string;
  spec: DeviceSpec;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validateLabels(field: string, value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw new ValidationError(field, `${field} must be an object`);
  const labels: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string')
      throw new ValidationError(`${field}.${key}`, `${field}.${key} must be a string`);
    if (!LABEL_KEY.test(key) || key.length > LABEL_KEY_MAX_LENGTH) {
      throw new ValidationError(`${field}.${key}`, `${field} key "${key}" ${LABEL_KEY_MESSAGE}`);
    }
    if (v.length > LABEL_VALUE_MAX_LENGTH || !LABEL_VALUE.test(v)) {
      throw new ValidationError(`${field}.${key}`, `${field}.${key} value "${v}" ${LABEL_VALUE_MESSAGE}`);
    }
    labels[key] = v;
  }
  return labels;
}

/** A value as an error shows it: a string quoted, anything else as JSON (the API's check too). */
export const shown = (value: unknown): string =>
  typeof value === 'string' ? `"${value}"` : JSON.stringify(value);

/**
 * Validates the body of `POST /api/v1/devices` (and a batch's items, and a workflow's own input).
 * It refuses what DEVICE_CREATE_SCHEMA refuses, in the same words (common/schemas.ts holds them;
 * test/validation.test.ts compares the two), but lets unknown fields pass: a workflow input
 * recorded before a field was dropped must still replay.
 */
export function validateDeviceCreate(body: unknown): DeviceCreateInput {
  if (!isRecord(body)) throw new ValidationError('body', 'body must be an object');
  const name = validateDnsLabel('name', body.name);
  const mcuType = body.mcuType ?? DEFAULT_MCU_TYPE;
  if (!isMcuType(mcuType)) {
    throw new ValidationError(
      'mcuType',
      `mcuType ${shown(mcuType)} is unknown; expected one of ${MCU_TYPES.join(', ')}`,
    );
  }
  const enrollment = body.enrollment;
  const runtime = body.runtime ?? (enrollment !== undefined ? 'external' : 'virtual');
  if (typeof runtime !== 'string' || !(DEVICE_RUNTIMES as readonly string[]).includes(runtime)) {
    throw new ValidationError('runtime', `runtime ${shown(runtime)} ${RUNTIME_CHOICES}`);
  }
  const gateway = body.gateway === undefined ? undefined : validateDnsLabel('gateway', body.gateway);
  if (body.firmware !== undefined && typeof body.firmware !== 'string') {
    throw new ValidationError('firmware', 'firmware must be a string');
  }
  const labels = validateLabels('labels', body.labels);
  if (enrollment !== undefined && enrollment !== 'preauthorized') {
    throw new ValidationError('enrollment', 'enrollment must be "preauthorized"');
  }
  if (enrollment && runtime !== 'external') {
    throw new ValidationError('runtime', `runtime ${shown(runtime)} ${RUNTIME_WITH_ENROLLMENT}`);
  }
  if (runtime === 'external' && !enrollment) {
    throw new ValidationError('enrollment', `enrollment is required ${ENROLLMENT_REQUIRED_WITH_EXTERNAL}`);
  }
  if (isEmulatedRuntime(runtime)) {
    const boards = boardsFor(runtime);
    if (body.mcuType === undefined && !boards.includes(mcuType))
      throw new ValidationError('mcuType', `mcuType is required ${boardRequiredWith(runtime)}`);
    if (!boards.includes(mcuType))
      throw new ValidationError('mcuType', `mcuType ${shown(mcuType)} ${boardCannotRun(runtime)}`);
  }
  if (runtime !== 'external' && !SUPPORTED_RUNTIMES.includes(runtime as DeviceRuntime)) {
    throw new ValidationError(
      'runtime',
      `runtime "${runtime}" is not available in this build; supported: ${SUPPORTED_RUNTIMES.join(', ')}`,
    );
  }
  const spec: DeviceSpec = { mcuType, runtime: runtime as DeviceRuntime, labels };
  if (gateway) spec.gateway = gateway;
  if (typeof body.firmware === 'string') spec.firmware = body.firmware;
  if (enrollment) spec.enrollment = enrollment;
  return { name, spec };
}

export interface ApplicationCreateInput {
  name: string;
  /** The module as sent: base64 bytes, or a hash already in the module store. */
  module: { base64: string } | { sha256: string };
  entry: string;
  target: ApplicationSpec['target'];
  strategy: ApplicationSpec['strategy'];
  limits: ApplicationSpec['limits'];
  env: Record<string, string>;
  args: string[];
}

function nonNegativeInt(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ValidationError(field, `${field} must be a non-negative integer`);
  }
  return value;
}

/** A device count (0 counts as 1) or a percentage of the rollout's targets (common/rollout-count.ts). */
function countOrPercent(field: string, value: unknown, fallback: CountOrPercent): CountOrPercent {
  if (value === undefined) return fallback;
  if (!isCountOrPercent(value)) {
    throw new ValidationError(
      field,
      `${field} must be a non-negative integer or a percentage such as "25%", got ${JSON.stringify(value)}`,
    );
  }
  return typeof value === 'number' ? Math.max(1, value) : value;
}

function stringRecord(field: string, value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw new ValidationError(field, `${field} must be an object of strings`);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string')
      throw new ValidationError(`${field}.${key}`, `${field}.${key} must be a string`);
  }
  return value as Record<string, string>;
}

/** Validates the body of `POST /api/v1/applications`; the module's bytes are checked by the caller. */
export function validateApplicationCreate(body: unknown): ApplicationCreateInput {
  if (!isRecord(body)) throw new ValidationError('body', 'body must be an object');
  const name = validateDnsLabel('name', body.name);
  let module: ApplicationCreateInput['module'];
  const base64 = body.wasm ?? body.module; // `wasm` is the documented name; `module` is accepted too
  if (typeof base64 === 'string' && base64.length > 0) module = { base64 };
  else if (typeof body.moduleSha256 === 'string' && SHA256_HEX.test(body.moduleSha256)) {
    module = { sha256: body.moduleSha256 };
  } else {
    throw new ValidationError(
      'module',
      'module (base64 WebAssembly) or moduleSha256 (of an uploaded module) is required',
    );
  }
  const entry = body.entry === undefined ? '_start' : body.entry;
  if (typeof entry !== 'string' || !EXPORT_NAME.test(entry)) {
    throw new ValidationError('entry', 'entry must be the name of an exported function');
  }

  if (!isRecord(body.target)) {
    throw new ValidationError(
      'target',
      'target is required: {devices: [...]}, {selector: {label: value}} or {all: true}',
    );
  }
  const target: ApplicationSpec['target'] = {};
  const forms = ['devices', 'selector', 'all'].filter(
    (k) => (body.target as Record<string, unknown>)[k] !== undefined,
  );
  if (forms.length !== 1) {
    throw new ValidationError('target', 'target must have exactly one of devices, selector or all');
  }
  if (body.target.devices !== undefined) {
    if (!Array.isArray(body.target.devices) || body.target.devices.length === 0) {
      throw new ValidationError('target.devices', 'target.devices must be a non-empty array of device names');
    }
    target.devices = body.target.devices.map((d, i) => validateDnsLabel(`target.devices[${i}]`, d));
  } else if (body.target.selector !== undefined) {
    target.selector = validateLabels('target.selector', body.target.selector);
    if (Object.keys(target.selector).length === 0) {
      throw new ValidationError('target.selector', 'target.selector must name at least one label');
    }
  } else if (body.target.all !== true) {
    throw new ValidationError('target.all', 'target.all must be true');
  } else {
    target.all = true;
  }

  const s = body.strategy === undefined ? {} : body.strategy;
  if (!isRecord(s)) throw new ValidationError('strategy', 'strategy must be an object');
  const type = s.type ?? 'AllAtOnce';
  if (typeof type !== 'string' || !(ROLLOUT_STRATEGIES as readonly string[]).includes(type)) {
    throw new ValidationError(
      'strategy.type',
      `strategy.type must be one of ${ROLLOUT_STRATEGIES.join(', ')}`,
    );
  }
  if (s.pauseAfterCanary !== undefined && typeof s.pauseAfterCanary !== 'boolean') {
    throw new ValidationError('strategy.pauseAfterCanary', 'strategy.pauseAfterCanary must be a boolean');
  }
  const strategy: ApplicationSpec['strategy'] = {
    type: type as RolloutStrategyType,
    maxUnavailable: countOrPercent('strategy.maxUnavailable', s.maxUnavailable, DEFAULT_MAX_UNAVAILABLE),
    canary: countOrPercent('strategy.canary', s.canary, 1),
    pauseAfterCanary: s.pauseAfterCanary === true,
    failureThreshold: nonNegativeInt('strategy.failureThreshold', s.failureThreshold, 0),
  };

  const l = body.limits === undefined ? {} : body.limits;
  if (!isRecord(l)) throw new ValidationError('limits', 'limits must be an object');
  const memoryPages = nonNegativeInt('limits.memoryPages', l.memoryPages, 1);
  if (memoryPages < 1 || memoryPages > MEMORY_PAGES_MAX) {
    throw new ValidationError(
      'limits.memoryPages',
      `limits.memoryPages must be between 1 and ${MEMORY_PAGES_MAX}`,
    );
  }
  const cpuMsPerCall =
    l.cpuMsPerCall === undefined || l.cpuMsPerCall === null
      ? null
      : nonNegativeInt('limits.cpuMsPerCall', l.cpuMsPerCall, 0);

  const args = body.args === undefined ? [] : body.args;
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new ValidationError('args', 'args must be an array of strings');
  }
  return {
    name,
    module,
    entry,
    target,
    strategy,
    limits: { memoryPages, cpuMsPerCall },
    env: stringRecord('env', body.env),
    args: args as string[],
  };
}
