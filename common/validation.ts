/**
 * Input validation shared by the API and the workflows. Workflow-safe: no Node built-ins.
 * Every failure names the offending field so a user can fix it without reading code.
 */
import { ValidationError } from './errors.js';
import { DEFAULT_MCU_TYPE, MCU_PROFILES, MCU_TYPES, isMcuType } from './mcu-profiles.js';
import { DEVICE_RUNTIMES, type DeviceRuntime, type DeviceSpec } from './resources.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** RFC 1123 label: what Kubernetes accepts as a name and what fits in a certificate CN. */
export function validateDnsLabel(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new ValidationError(field, `${field} is required and must be a non-empty string`);
  }
  if (value.length > 63 || !DNS_LABEL.test(value)) {
    throw new ValidationError(
      field,
      `${field} "${value}" is not a DNS label: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
    );
  }
  return value;
}

/** Runtimes this build can provision. Others are part of the model but not yet implemented here. */
export const SUPPORTED_RUNTIMES: readonly DeviceRuntime[] = ['virtual'];

export interface DeviceCreateInput {
  name: string;
  spec: DeviceSpec;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validateLabels(field: string, value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw new ValidationError(field, `${field} must be an object of string values`);
  const labels: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string')
      throw new ValidationError(`${field}.${key}`, `${field}.${key} must be a string`);
    if (!/^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/.test(key) || key.length > 253) {
      throw new ValidationError(`${field}.${key}`, `${field} key "${key}" is not a valid label key`);
    }
    if (v.length > 63 || !/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(v)) {
      throw new ValidationError(`${field}.${key}`, `${field}.${key} value "${v}" is not a valid label value`);
    }
    labels[key] = v;
  }
  return labels;
}

/** Validates the body of `POST /api/v1/devices` (and a workflow's own input). */
export function validateDeviceCreate(body: unknown): DeviceCreateInput {
  if (!isRecord(body)) throw new ValidationError('body', 'request body must be a JSON object');
  const name = validateDnsLabel('name', body.name);
  const mcuType = body.mcuType ?? DEFAULT_MCU_TYPE;
  if (!isMcuType(mcuType)) {
    throw new ValidationError(
      'mcuType',
      `mcuType "${String(mcuType)}" is unknown; expected one of ${MCU_TYPES.join(', ')}`,
    );
  }
  const runtime = body.runtime ?? 'virtual';
  if (typeof runtime !== 'string' || !(DEVICE_RUNTIMES as readonly string[]).includes(runtime)) {
    throw new ValidationError(
      'runtime',
      `runtime "${String(runtime)}" is unknown; expected one of ${DEVICE_RUNTIMES.join(', ')}`,
    );
  }
  if (!SUPPORTED_RUNTIMES.includes(runtime as DeviceRuntime)) {
    throw new ValidationError(
      'runtime',
      `runtime "${runtime}" is not available in this build; supported: ${SUPPORTED_RUNTIMES.join(', ')}`,
    );
  }
  const profile = MCU_PROFILES[mcuType];
  if (runtime !== 'virtual' && runtime !== 'external' && !profile.emulatedEthernet) {
    throw new ValidationError(
      'mcuType',
      `mcuType "${mcuType}" has no Ethernet in its emulator and could never reach a gateway with runtime "${runtime}"`,
    );
  }
  const gateway = body.gateway === undefined ? undefined : validateDnsLabel('gateway', body.gateway);
  if (body.firmware !== undefined && typeof body.firmware !== 'string') {
    throw new ValidationError('firmware', 'firmware must be a string (image reference or path)');
  }
  const labels = validateLabels('labels', body.labels);
  const spec: DeviceSpec = { mcuType, runtime: runtime as DeviceRuntime, labels };
  if (gateway) spec.gateway = gateway;
  if (typeof body.firmware === 'string') spec.firmware = body.firmware;
  return { name, spec };
}
