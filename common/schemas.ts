/**
 * JSON Schemas of the API's request bodies and of the resources' spec fields: the one place
 * that says what a well-formed request is. The OpenAPI document (web/openapi.ts) is built from
 * them and the API validates every request against it before any handler runs; the CRDs
 * (k8s/crds/generate.ts) take their field rules from the same leaves; the hand-written
 * validators of common/validation.ts (which workflows run too, so they cannot use Ajv) accept
 * everything these schemas accept — test/schemas.test.ts checks both directions on samples.
 *
 * Rules that need more than the request (is the module valid WebAssembly, does a named device
 * exist) are not here: the API answers those with 422, and the OpenAPI document says so.
 * Workflow-safe: plain data.
 */
import { DEFAULT_MCU_TYPE, MCU_PROFILES, MCU_TYPES, type McuType } from './mcu-profiles.js';
import {
  DNS_LABEL_MAX_LENGTH,
  DNS_LABEL_PATTERN,
  EXPORT_NAME_PATTERN,
  LABEL_KEY_MAX_LENGTH,
  LABEL_KEY_PATTERN,
  LABEL_VALUE_MAX_LENGTH,
  LABEL_VALUE_PATTERN,
  SHA256_HEX_PATTERN,
} from './names.js';
import { DEVICE_RUNTIMES, ROLLOUT_STRATEGIES, type DeviceRuntime } from './resources.js';
import { PERCENT_PATTERN } from './rollout-count.js';

export type JsonSchema = Record<string, unknown>;

export const dnsLabelSchema = (description?: string): JsonSchema => ({
  type: 'string',
  maxLength: DNS_LABEL_MAX_LENGTH,
  pattern: DNS_LABEL_PATTERN,
  ...(description ? { description } : {}),
});

export const SHA256_SCHEMA: JsonSchema = { type: 'string', pattern: SHA256_HEX_PATTERN };

/** Kubernetes-style labels: keys and values as Kubernetes allows them. */
export const LABELS_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'Kubernetes-style labels',
  propertyNames: { maxLength: LABEL_KEY_MAX_LENGTH, pattern: LABEL_KEY_PATTERN },
  additionalProperties: { type: 'string', maxLength: LABEL_VALUE_MAX_LENGTH, pattern: LABEL_VALUE_PATTERN },
};

export const STRING_MAP_SCHEMA: JsonSchema = { type: 'object', additionalProperties: { type: 'string' } };
export const STRING_LIST_SCHEMA: JsonSchema = { type: 'array', items: { type: 'string' } };

// ---- devices ------------------------------------------------------------------------------

/** Runtimes whose emulator must model a NIC: the device dials its gateway over that network. */
const EMULATED_RUNTIMES = ['docker', 'qemu', 'renode'] as const satisfies readonly DeviceRuntime[];

/** The boards a runtime can run so that they reach a gateway (docker runs any networked board). */
export function boardsFor(runtime: (typeof EMULATED_RUNTIMES)[number]): McuType[] {
  return MCU_TYPES.filter(
    (t) =>
      MCU_PROFILES[t].emulatedEthernet && (runtime === 'docker' || MCU_PROFILES[t].emulator.kind === runtime),
  );
}

/*
 * The words of the device rules below are shared with common/validation.ts's validateDeviceCreate
 * (the workflow's, the batch's and the controller's check), so a device refused by the API and
 * one refused elsewhere read the same (test/validation.test.ts compares the two).
 */

/** A runtime that is not one: the words after `runtime "x"`. */
export const RUNTIME_CHOICES =
  'must be virtual (the default), docker, qemu or renode; external for a real board, which needs enrollment';

/** A board an emulated runtime cannot run with a network: the words after `mcuType "x"`. */
export const boardCannotRun = (runtime: (typeof EMULATED_RUNTIMES)[number]): string =>
  `cannot run with runtime "${runtime}" and reach a gateway; boards that work: ${boardsFor(runtime).join(', ')}`;

/** Why mcuType is required with a runtime that cannot run the default board: after "mcuType is required". */
export const boardRequiredWith = (runtime: (typeof EMULATED_RUNTIMES)[number]): string =>
  `with runtime "${runtime}" (boards that work: ${boardsFor(runtime).join(', ')})`;

/** After "enrollment is required". */
export const ENROLLMENT_REQUIRED_WITH_EXTERNAL =
  'with runtime "external": a real board enrolls itself ("enrollment": "preauthorized")';

/** After `runtime "x"` when enrollment is given. */
export const RUNTIME_WITH_ENROLLMENT = 'must be "external" with enrollment: a real board enrolls itself';

/** Whether a runtime's emulator must model the board's network (docker, qemu, renode). */
export const isEmulatedRuntime = (runtime: string): runtime is (typeof EMULATED_RUNTIMES)[number] =>
  (EMULATED_RUNTIMES as readonly string[]).includes(runtime);

const whenRuntime = (runtime: string, then: JsonSchema): JsonSchema => ({
  if: { required: ['runtime'], properties: { runtime: { const: runtime } } },
  then,
});

/** An emulated board without a network in its emulator could never reach a gateway. */
const EMULATED_BOARD_RULES: JsonSchema[] = EMULATED_RUNTIMES.map((runtime) => {
  const boards = boardsFor(runtime);
  return whenRuntime(runtime, {
    properties: { mcuType: { enum: boards, description: boardCannotRun(runtime) } },
    ...(boards.includes(DEFAULT_MCU_TYPE)
      ? {}
      : {
          required: ['mcuType'],
          // (The error's words after "mcuType is required": the default board cannot run here.)
          description: boardRequiredWith(runtime),
        }),
  });
});

/** POST /devices */
export const DEVICE_CREATE_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: dnsLabelSchema(),
    mcuType: { enum: [...MCU_TYPES], default: DEFAULT_MCU_TYPE },
    runtime: {
      enum: [...DEVICE_RUNTIMES],
      default: 'virtual',
      // (Also the error's words after the value: `runtime "x" must be …`.)
      description: RUNTIME_CHOICES,
    },
    gateway: dnsLabelSchema('preferred gateway'),
    firmware: { type: 'string', description: 'firmware image reference or path' },
    labels: LABELS_SCHEMA,
    enrollment: {
      const: 'preauthorized',
      description:
        'a real board (runtime external, the default with this field) that enrolls itself with a claim credential and is approved at once',
    },
  },
  allOf: [
    {
      if: { required: ['enrollment'] },
      then: { properties: { runtime: { const: 'external', description: RUNTIME_WITH_ENROLLMENT } } },
    },
    whenRuntime('external', { required: ['enrollment'], description: ENROLLMENT_REQUIRED_WITH_EXTERNAL }),
    ...EMULATED_BOARD_RULES,
  ],
};

/** How many devices one batch may create. */
export const MAX_BATCH_DEVICES = 1000;

/** The runtimes a batch can provision: every one but external (real boards enroll one by one). */
const BATCH_RUNTIME_SCHEMA: JsonSchema = {
  enum: DEVICE_RUNTIMES.filter((r) => r !== 'external'),
  default: 'virtual',
};
const { enrollment: _enrollment, ...batchItemProperties } = DEVICE_CREATE_SCHEMA.properties as Record<
  string,
  JsonSchema
>;

/** POST /device-batches */
export const DEVICE_BATCH_CREATE_SCHEMA: JsonSchema = {
  type: 'object',
  description:
    'either count (with prefix: names <prefix>-<start>…) or devices (a list of device specs); mcuType, ' +
    'runtime, gateway, firmware and labels apply to every device (an item may override them)',
  additionalProperties: false,
  properties: {
    name: dnsLabelSchema(
      'the batch (default batch-<random>); its devices get the label wasmbed.io/batch=<name>',
    ),
    count: { type: 'integer', minimum: 1, maximum: MAX_BATCH_DEVICES },
    prefix: dnsLabelSchema('generated names are <prefix>-<number>'),
    start: { type: 'integer', minimum: 0, default: 1, description: 'number of the first generated name' },
    devices: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_BATCH_DEVICES,
      items: {
        type: 'object',
        required: ['name'],
        additionalProperties: false,
        properties: { ...batchItemProperties, runtime: BATCH_RUNTIME_SCHEMA },
        allOf: EMULATED_BOARD_RULES,
      },
    },
    mcuType: batchItemProperties.mcuType,
    runtime: BATCH_RUNTIME_SCHEMA,
    gateway: batchItemProperties.gateway,
    firmware: batchItemProperties.firmware,
    labels: LABELS_SCHEMA,
  },
  // Generated names or a list: exactly one. prefix and start only make sense with count.
  oneOf: [{ required: ['count'] }, { required: ['devices'] }],
  dependentRequired: { count: ['prefix'], prefix: ['count'], start: ['count'] },
  allOf: EMULATED_BOARD_RULES,
};

// ---- applications ------------------------------------------------------------------------------

export const APPLICATION_TARGET_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'exactly one of devices, selector or all',
  minProperties: 1,
  maxProperties: 1,
  additionalProperties: false,
  properties: {
    devices: { type: 'array', minItems: 1, items: dnsLabelSchema() },
    selector: { ...LABELS_SCHEMA, minProperties: 1 },
    all: { const: true },
  },
};

/** A device count or a percentage ("25%"): Kubernetes' int-or-string, as its Deployments take it. */
function countOrPercentSchema(description: string): JsonSchema {
  return {
    anyOf: [
      { type: 'integer', minimum: 0 },
      { type: 'string', pattern: PERCENT_PATTERN },
    ],
    'x-kubernetes-int-or-string': true,
    description,
  };
}

export const APPLICATION_STRATEGY_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: { enum: [...ROLLOUT_STRATEGIES], default: 'AllAtOnce' },
    maxUnavailable: countOrPercentSchema(
      'Rolling, and Canary after its first wave: devices updated at once (0 counts as 1), or a percentage of the targets, rounded down (default "25%")',
    ),
    canary: countOrPercentSchema(
      'Canary: devices in the first wave (0 counts as 1), or a percentage of the targets, rounded up',
    ),
    pauseAfterCanary: { type: 'boolean' },
    failureThreshold: { type: 'integer', minimum: 0 },
  },
};

export const MEMORY_PAGES_MAX = 65536;

export const APPLICATION_LIMITS_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    memoryPages: { type: 'integer', minimum: 1, maximum: MEMORY_PAGES_MAX, default: 1 },
    cpuMsPerCall: { type: ['integer', 'null'], minimum: 0 },
  },
};

const BASE64_WASM: JsonSchema = {
  type: 'string',
  minLength: 1,
  contentEncoding: 'base64',
  contentMediaType: 'application/wasm',
};

/** POST /applications, PUT /applications/{name} */
export const APPLICATION_CREATE_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['name', 'target'],
  additionalProperties: false,
  description:
    'The module as base64 in `wasm` (or `module`), or `moduleSha256` of a module uploaded to /modules.',
  anyOf: [{ required: ['wasm'] }, { required: ['module'] }, { required: ['moduleSha256'] }],
  properties: {
    name: dnsLabelSchema(),
    wasm: { ...BASE64_WASM, description: 'the module as base64 (or use moduleSha256)' },
    module: { ...BASE64_WASM, description: 'the same as wasm (an older name)' },
    moduleSha256: { ...SHA256_SCHEMA, description: 'a module uploaded to /modules' },
    entry: { type: 'string', pattern: EXPORT_NAME_PATTERN, default: '_start' },
    target: APPLICATION_TARGET_SCHEMA,
    strategy: APPLICATION_STRATEGY_SCHEMA,
    limits: APPLICATION_LIMITS_SCHEMA,
    env: STRING_MAP_SCHEMA,
    args: STRING_LIST_SCHEMA,
  },
};

// ---- enrollment ------------------------------------------------------------------------------

/** How long a claim credential lives: seconds, default one day, at most 30 days. */
export const CLAIM_TTL_SECONDS = { min: 1, default: 86_400, max: 30 * 86_400 } as const;
export const DURATION_UNITS = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as const;

/**
 * A regex (no anchors) for the decimal integers 1..max without leading zeros, so that a
 * duration's bound can be a pattern: JSON Schema has no maximum for a number in a string.
 */
export function upToPattern(max: number): string {
  const digits = String(max);
  const alternatives: string[] = [];
  if (digits.length > 1) alternatives.push(`[1-9][0-9]{0,${digits.length - 2}}`); // fewer digits
  for (let i = 0; i < digits.length; i++) {
    const d = Number(digits[i]);
    const low = i === 0 ? 1 : 0;
    if (d - 1 >= low) {
      const rest = digits.length - i - 1;
      alternatives.push(`${digits.slice(0, i)}[${low}-${d - 1}]${rest ? `[0-9]{${rest}}` : ''}`);
    }
  }
  alternatives.push(digits);
  return alternatives.join('|');
}

const durationPattern = () =>
  `^(${Object.entries(DURATION_UNITS)
    .map(([unit, seconds]) => `(${upToPattern(Math.floor(CLAIM_TTL_SECONDS.max / seconds))})${unit}`)
    .join('|')})$`;

export const CLAIM_TTL_SCHEMA: JsonSchema = {
  description: `lifetime: seconds, or a duration like 30m, 24h, 7d (default 24h, at most ${CLAIM_TTL_SECONDS.max / 86_400} days)`,
  oneOf: [
    { type: 'integer', minimum: CLAIM_TTL_SECONDS.min, maximum: CLAIM_TTL_SECONDS.max },
    { type: 'string', pattern: durationPattern() },
  ],
};

/** POST /enrollment-tokens */
export const CLAIM_CREDENTIAL_CREATE_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: dnsLabelSchema('the only device name this credential may enroll (optional for tokens)'),
    ttl: CLAIM_TTL_SCHEMA,
  },
};

/** POST /claim-certificates */
export const CLAIM_CERTIFICATE_CREATE_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: dnsLabelSchema(), ttl: CLAIM_TTL_SCHEMA },
};

export const MAX_REJECT_REASON = 500;

/** POST /enrollments/{name}/reject */
export const ENROLLMENT_REJECT_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', maxLength: MAX_REJECT_REASON, description: 'told to the board' } },
};
