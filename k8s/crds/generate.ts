/**
 * Generates k8s/crds/*.yaml from the resource model, so the enums (mcuType, runtime, phases,
 * strategies) can never drift from common/. Run: `npx tsx k8s/crds/generate.ts` (the
 * Kubernetes test checks the files are current).
 *
 * Every object in the schemas lists its properties; `x-kubernetes-preserve-unknown-fields`
 * appears only where an open map is intended (Device status.apps, whose per-app state the
 * device reports). Maps of strings use additionalProperties, which is not pruning.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MCU_TYPE, MCU_PROFILES, MCU_TYPES } from '../../common/mcu-profiles.js';
import {
  DNS_LABEL_MAX_LENGTH,
  DNS_LABEL_PATTERN,
  DNS_SUBDOMAIN_MAX_LENGTH,
  DNS_SUBDOMAIN_PATTERN,
  SHA256_HEX_PATTERN,
} from '../../common/names.js';
import {
  APPLICATION_PHASES,
  APP_DEVICE_STATES,
  CONDITION_STATUSES,
  DEVICE_PHASES,
  ENROLLMENT_MODES,
  ENROLLMENT_STATES,
  GATEWAY_PHASES,
  PROVISIONING_STEP_STATES,
} from '../../common/resources.js';
import {
  APPLICATION_CREATE_SCHEMA,
  APPLICATION_LIMITS_SCHEMA,
  APPLICATION_STRATEGY_SCHEMA,
  APPLICATION_TARGET_SCHEMA,
  DEVICE_CREATE_SCHEMA,
  type JsonSchema,
} from '../../common/schemas.js';
import { DEFAULT_MAX_UNAVAILABLE } from '../../common/rollout-count.js';

type Schema = Record<string, unknown>;
const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const int = (extra: Schema = {}): Schema => ({ type: 'integer', format: 'int64', ...extra });
const num = (extra: Schema = {}): Schema => ({ type: 'number', ...extra });
const bool = (extra: Schema = {}): Schema => ({ type: 'boolean', ...extra });
const obj = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({
  type: 'object',
  properties,
  ...extra,
});
const stringMap = (extra: Schema = {}): Schema => ({
  type: 'object',
  additionalProperties: { type: 'string' },
  ...extra,
});
const timestamp = (description: string): Schema => str({ format: 'date-time', description });

/**
 * A field's rules from common/schemas.ts as a structural schema (what a CRD takes): a nullable
 * type instead of a type list, enum instead of const, integers as int64; what a CRD cannot say
 * (propertyNames, anyOf of required fields, content annotations) left out, and `extra` (the
 * CRD's own defaults, descriptions, CEL rules) laid over it.
 */
export function structural(schema: JsonSchema, extra: Schema = {}): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (['propertyNames', 'contentEncoding', 'contentMediaType', 'anyOf', 'allOf'].includes(key)) continue;
    if (key === 'type' && Array.isArray(value)) {
      out.type = value.find((t) => t !== 'null');
      if (value.includes('null')) out.nullable = true;
    } else if (key === 'const') {
      out.type = typeof value === 'boolean' ? 'boolean' : 'string';
      out.enum = [value];
    } else if (key === 'enum') {
      out.type = 'string';
      out.enum = value;
    } else if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, JsonSchema>).map(([k, v]) => [k, structural(v)]),
      );
    } else if (key === 'items' || (key === 'additionalProperties' && typeof value === 'object')) {
      out[key] = structural(value as JsonSchema);
    } else if (key === 'additionalProperties' || key === 'minProperties' || key === 'maxProperties') {
      continue; // structural schemas are closed already (pruning); exactly-one is a CEL rule below
    } else {
      out[key] = value;
    }
  }
  if (out.type === 'integer') out.format = 'int64';
  if (schema['x-kubernetes-int-or-string'] === true) Object.assign(out, intOrStringRule(schema));
  return { ...out, ...extra };
}

/**
 * An int-or-string field's value rules, which a structural schema cannot put in its anyOf
 * branches: a CEL rule instead (the field's CEL type is int or string, told apart by type()).
 */
function intOrStringRule(schema: JsonSchema): Schema {
  const branches = (schema.anyOf ?? []) as JsonSchema[];
  const intBranch = branches.find((b) => b.type === 'integer');
  const stringBranch = branches.find((b) => b.type === 'string');
  const intRule = typeof intBranch?.minimum === 'number' ? `self >= ${intBranch.minimum}` : 'true';
  const stringRule =
    typeof stringBranch?.pattern === 'string' ? `self.matches('${stringBranch.pattern}')` : 'true';
  return {
    'x-kubernetes-validations': [
      {
        rule: `type(self) == int ? ${intRule} : ${stringRule}`,
        message: `must be an integer${intBranch?.minimum === 0 ? ' of 0 or more' : ''} or a percentage matching ${String(stringBranch?.pattern ?? '.*')}`,
      },
    ],
  };
}

/** The CRD's defaults for an object's fields (the API fills them in its validator instead). */
function withDefaults(schema: Schema, defaults: Record<string, unknown>): Schema {
  const properties = { ...(schema.properties as Record<string, Schema>) };
  for (const [key, value] of Object.entries(defaults)) properties[key] = { ...properties[key], default: value };
  return { ...schema, properties };
}

const deviceCreate = DEVICE_CREATE_SCHEMA.properties as Record<string, JsonSchema>;
const applicationCreate = APPLICATION_CREATE_SCHEMA.properties as Record<string, JsonSchema>;

const conditions: Schema = {
  type: 'array',
  description: 'Latest observations of the resource, one per type.',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  items: obj(
    {
      type: str({ maxLength: 316 }),
      status: str({ enum: [...CONDITION_STATUSES] }),
      reason: str({ maxLength: 1024 }),
      message: str({ maxLength: 32768 }),
      lastTransitionTime: timestamp('When the status last changed.'),
    },
    { required: ['type', 'status'] },
  ),
};

const noEthernet = MCU_TYPES.filter((t) => !MCU_PROFILES[t].emulatedEthernet);
const nameRule = {
  rule: `self.metadata.name.size() <= ${DNS_LABEL_MAX_LENGTH} && self.metadata.name.matches('${DNS_LABEL_PATTERN}')`,
  message: 'metadata.name must be a DNS label (lowercase letters, digits and "-", at most 63 characters)',
};

const deviceSchema = obj(
  {
    apiVersion: str(),
    kind: str(),
    metadata: { type: 'object' },
    spec: obj(
      {
        mcuType: structural(deviceCreate.mcuType!, {
          default: DEFAULT_MCU_TYPE,
          description: 'The board (MCU profile); see docs/kubernetes.md for the list.',
        }),
        runtime: structural(deviceCreate.runtime!, {
          default: 'virtual',
          description: 'What runs the device: virtual (Node process), docker, renode, qemu or external.',
        }),
        gateway: structural(deviceCreate.gateway!, { description: 'Preferred gateway (optional).' }),
        firmware: structural(deviceCreate.firmware!, {
          maxLength: 4096,
          description: 'Firmware image reference or path.',
        }),
        labels: structural(deviceCreate.labels!, { description: 'Labels used by Application selectors.' }),
        enrollment: str({
          enum: [...ENROLLMENT_MODES],
          description:
            'Runtime external only: preauthorized (approved at once when the board enrolls) or approval (created by an unknown board, waits for an operator). See docs/enrollment.md.',
        }),
      },
      {
        required: ['mcuType', 'runtime'],
        'x-kubernetes-validations': [
          {
            rule: `!(self.runtime in ['docker', 'renode', 'qemu'] && self.mcuType in [${noEthernet
              .map((t) => `'${t}'`)
              .join(', ')}])`,
            message: `mcuType ${noEthernet.join(' and ')} has no Ethernet in its emulator, so an emulated device could never reach a gateway; use runtime virtual or external`,
            fieldPath: '.mcuType',
          },
        ],
      },
    ),
    status: obj({
      phase: str({ enum: [...DEVICE_PHASES] }),
      gateway: obj({ name: str(), endpoint: str() }),
      host: str({ description: 'The device host that runs its emulator (task queue wasmbed-host-<host>).' }),
      identity: obj({ certSerial: str(), spkiSha256: str(), notAfter: str() }),
      lastHeartbeat: str(),
      conditions,
      steps: {
        type: 'array',
        items: obj(
          {
            name: str(),
            state: str({ enum: [...PROVISIONING_STEP_STATES] }),
            message: str(),
            startedAt: str(),
            finishedAt: str(),
          },
          { required: ['name', 'state'] },
        ),
      },
      apps: {
        type: 'object',
        description: 'Per-application state as the device reports it (open on purpose).',
        'x-kubernetes-preserve-unknown-fields': true,
      },
      workflowId: str(),
      observedGeneration: int(),
      message: str(),
      deviceInfo: obj({ firmwareVersion: str(), mcuType: str(), freeMemory: int(), maxAppSize: int() }),
      enrollment: obj({
        state: str({ enum: [...ENROLLMENT_STATES] }),
        csrFingerprint: str(),
        keyType: str(),
        sourceAddress: str(),
        gateway: str(),
        claim: str(),
        requestedAt: str(),
        decidedAt: str(),
        reason: str(),
        workflowId: str(),
      }),
    }),
  },
  { required: ['spec'], 'x-kubernetes-validations': [nameRule] },
);

const appDeviceState = obj(
  {
    state: str({ enum: [...APP_DEVICE_STATES] }),
    error: str({ nullable: true }),
    restarts: int({ minimum: 0 }),
    since: str(),
    awaitingRollout: bool(),
  },
  { required: ['state'] },
);

/** A module with the settings it was deployed with (status.currentModule, previousModule). */
const deployedVersion = obj({
  sha256: str(),
  size: int(),
  entry: str(),
  env: stringMap(),
  args: { type: 'array', items: str() },
  limits: obj({ memoryPages: int(), cpuMsPerCall: int({ nullable: true }) }),
});

const applicationSchema = obj(
  {
    apiVersion: str(),
    kind: str(),
    metadata: { type: 'object' },
    spec: obj(
      {
        module: obj(
          {
            sha256: str({
              pattern: SHA256_HEX_PATTERN,
              description: 'Content hash of a module uploaded to the platform (POST /api/v1/modules).',
            }),
            size: int({ minimum: 1, description: 'Size in bytes (optional; checked when given).' }),
            configMapKeyRef: obj(
              {
                name: str({ pattern: DNS_SUBDOMAIN_PATTERN, maxLength: DNS_SUBDOMAIN_MAX_LENGTH }),
                key: str({ pattern: '^[-._a-zA-Z0-9]+$', maxLength: 253 }),
              },
              {
                required: ['name', 'key'],
                description: 'A binaryData (or data) key of a ConfigMap in the same namespace.',
              },
            ),
          },
          {
            description: 'Where the WebAssembly module comes from: exactly one of sha256 or configMapKeyRef.',
            'x-kubernetes-validations': [
              {
                rule: 'has(self.sha256) != has(self.configMapKeyRef)',
                message: 'module needs exactly one of sha256 (an uploaded module) or configMapKeyRef',
              },
            ],
          },
        ),
        entry: structural(applicationCreate.entry!),
        target: structural(APPLICATION_TARGET_SCHEMA, {
          'x-kubernetes-validations': [
            {
              rule: '[has(self.devices), has(self.selector), has(self.all) && self.all].filter(x, x).size() == 1',
              message: 'target needs exactly one of devices, selector or all: true',
            },
          ],
        }),
        strategy: withDefaults(structural(APPLICATION_STRATEGY_SCHEMA, { default: {} }), {
          type: 'AllAtOnce',
          maxUnavailable: DEFAULT_MAX_UNAVAILABLE,
          canary: 1,
          pauseAfterCanary: false,
          failureThreshold: 0,
        }),
        limits: withDefaults(structural(APPLICATION_LIMITS_SCHEMA, { default: {} }), { memoryPages: 1 }),
        env: structural(applicationCreate.env!, { default: {} }),
        args: structural(applicationCreate.args!, { default: [] }),
      },
      { required: ['module', 'target'] },
    ),
    status: obj({
      phase: str({ enum: [...APPLICATION_PHASES] }),
      devices: { type: 'object', additionalProperties: appDeviceState },
      counts: obj({ targeted: int(), running: int(), failed: int(), pending: int() }),
      currentModule: deployedVersion,
      previousModule: deployedVersion,
      workflowId: str(),
      message: str(),
      awaitingPromotion: bool(),
      observedGeneration: int(),
      rolloutClaim: obj(
        { generation: int(), holder: str(), at: timestamp('When the claim was taken; its lease starts then.') },
        { description: 'The writer that starts the rollout of this generation (services/rollout-claim.ts).' },
      ),
      resolvedModule: obj(
        { sha256: str(), size: int() },
        { description: 'The module spec.module resolved to (written by the controller).' },
      ),
      conditions,
    }),
  },
  { required: ['spec'], 'x-kubernetes-validations': [nameRule] },
);

const gatewaySchema = obj(
  {
    apiVersion: str(),
    kind: str(),
    metadata: { type: 'object' },
    spec: obj(
      {
        endpoint: str({
          pattern: '^[A-Za-z0-9.-]+:[0-9]{1,5}$',
          description: 'host:port devices dial; never a loopback address inside a cluster.',
        }),
        maxDevices: int({ minimum: 1, default: 10000 }),
        heartbeatIntervalSeconds: num({ minimum: 0, default: 5 }),
        heartbeatTimeoutSeconds: num({ minimum: 0, default: 15 }),
      },
      { required: ['endpoint'] },
    ),
    status: obj({
      phase: str({ enum: [...GATEWAY_PHASES] }),
      connectedDevices: int({ minimum: 0 }),
      conditions,
      lastSeen: str(),
      taskQueue: str(),
      healthEndpoint: str(),
    }),
  },
  { required: ['spec'], 'x-kubernetes-validations': [nameRule] },
);

const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function crd(kind: string, plural: string, shortNames: string[], schema: Schema, columns: Schema[]): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.wasmbed.io`, labels: { 'app.kubernetes.io/part-of': 'wasmbed' } },
    spec: {
      group: 'wasmbed.io',
      scope: 'Namespaced',
      names: {
        kind,
        listKind: `${kind}List`,
        plural,
        singular: kind.toLowerCase(),
        shortNames,
        categories: ['wasmbed'],
      },
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...columns, age],
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

export const CRDS: Record<string, Schema> = {
  'device.yaml': crd('Device', 'devices', ['wdev'], deviceSchema, [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Gateway', type: 'string', jsonPath: '.status.gateway.name' },
    { name: 'MCU', type: 'string', jsonPath: '.spec.mcuType' },
    { name: 'Runtime', type: 'string', jsonPath: '.spec.runtime', priority: 1 },
    { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
  ]),
  'application.yaml': crd('Application', 'applications', ['wapp'], applicationSchema, [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Running', type: 'integer', jsonPath: '.status.counts.running' },
    { name: 'Targeted', type: 'integer', jsonPath: '.status.counts.targeted' },
    { name: 'Strategy', type: 'string', jsonPath: '.spec.strategy.type', priority: 1 },
  ]),
  'gateway.yaml': crd('Gateway', 'gateways', ['wgw'], gatewaySchema, [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Endpoint', type: 'string', jsonPath: '.spec.endpoint' },
    { name: 'Devices', type: 'integer', jsonPath: '.status.connectedDevices' },
    { name: 'Last Seen', type: 'date', jsonPath: '.status.lastSeen' },
  ]),
};

/** A YAML emitter for plain JSON data (block style, strings quoted when YAML would misread them). */
export function toYaml(value: unknown, indent = 0): string {
  const pad = ' '.repeat(indent);
  const scalar = (v: unknown): string => {
    if (v === null) return 'null';
    if (typeof v === 'string') {
      return /^[A-Za-z_/][A-Za-z0-9_ ./()-]*$/.test(v) &&
        !/^(true|false|null|yes|no|on|off|y|n)$/i.test(v) &&
        !/ $/.test(v)
        ? v
        : JSON.stringify(v);
    }
    return String(v);
  };
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return value
      .map((item) => {
        if (item !== null && typeof item === 'object' && Object.keys(item).length > 0) {
          const body = toYaml(item, indent + 2);
          return `${pad}- ${body.trimStart()}`;
        }
        return `${pad}- ${toYaml(item, indent + 2).trim()}`;
      })
      .join('\n');
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0) return '{}';
    return entries
      .map(([k, v]) => {
        const key = scalar(k);
        if (
          v !== null &&
          typeof v === 'object' &&
          (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0)
        ) {
          return `${pad}${key}:\n${toYaml(v, indent + 2)}`;
        }
        return `${pad}${key}: ${toYaml(v, 0).trim()}`;
      })
      .join('\n');
  }
  return scalar(value);
}

export function renderCrd(file: string): string {
  return `# Generated by k8s/crds/generate.ts from common/ — do not edit by hand.\n---\n${toYaml(CRDS[file])}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = path.dirname(fileURLToPath(import.meta.url));
  for (const file of Object.keys(CRDS)) {
    fs.writeFileSync(path.join(dir, file), renderCrd(file));
    process.stdout.write(`wrote k8s/crds/${file}\n`);
  }
}
