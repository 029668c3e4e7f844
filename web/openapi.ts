/**
 * The OpenAPI 3.1 document of /api/v1 (served at /api/v1/openapi.json) and a request
 * validator built from it with Ajv: what the document says is what the server accepts.
 * Domain checks that need more than a schema (is the module valid WebAssembly, is the
 * runtime built in) stay in common/validation.ts and run after this.
 */
import type { NextFunction, Request, Response } from 'express';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { ValidationError } from '../common/errors.js';
import { shown } from '../common/validation.js';
import { MCU_TYPES } from '../common/mcu-profiles.js';
import {
  DNS_LABEL_MESSAGE,
  DNS_LABEL_PATTERN,
  LABEL_KEY_MESSAGE,
  LABEL_KEY_PATTERN,
  LABEL_VALUE_MESSAGE,
  LABEL_VALUE_PATTERN,
} from '../common/names.js';
import {
  APPLICATION_PHASES,
  APP_DEVICE_STATES,
  CONDITION_STATUSES,
  DEVICE_PHASES,
  DEVICE_RUNTIMES,
  ENROLLMENT_MODES,
  ENROLLMENT_STATES,
  GATEWAY_PHASES,
  PROVISIONING_STEP_STATES,
  ROLLOUT_STRATEGIES,
} from '../common/resources.js';
import {
  APPLICATION_CREATE_SCHEMA,
  CLAIM_CERTIFICATE_CREATE_SCHEMA,
  CLAIM_CREDENTIAL_CREATE_SCHEMA,
  DEVICE_BATCH_CREATE_SCHEMA,
  DEVICE_CREATE_SCHEMA,
  ENROLLMENT_REJECT_SCHEMA,
  LABELS_SCHEMA,
  SHA256_SCHEMA,
  dnsLabelSchema,
} from '../common/schemas.js';
import { CLAIM_STATES } from '../pki/claim-credentials.js';
import { MAX_LIST_LIMIT, type ListFilters } from '../store/list-query.js';
import { COUNT_OR_PERCENT_HTML_PATTERN } from '../common/rollout-count.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const errorResponses = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((c) => [
      String(c),
      {
        description:
          {
            400: 'invalid input',
            401: 'missing or wrong token',
            403: 'cross-site request refused',
            404: 'not found',
            409: 'conflict',
            413: 'request body too large',
            415: 'wrong content type',
            // Node's HTTP parser answers before the API sees the request: a list's query
            // (filters, a continue token) that makes the request line and headers pass 16 KiB.
            431: 'request line and headers larger than the server takes (16 KiB)',
            422: 'well-formed, but the content cannot be used: the module is not valid WebAssembly, lacks its entry or does not fit a target, or no uploaded module has that hash',
            503: 'Temporal unavailable (code TemporalUnavailable): try again; Temporal up but refusing the start (code TemporalRefused: its namespace or search attributes) is a 500',
          }[c] ?? 'error',
        content: json(ref('Error')),
      },
    ]),
  );
const nameParam = {
  name: 'name',
  in: 'path',
  required: true,
  schema: { type: 'string', minLength: 1, maxLength: 253 },
};

const labels = LABELS_SCHEMA;
/** A form field's count of devices, or a percentage of the targets ("25%"). */
const COUNT_OR_PERCENT_FIELD = {
  type: 'string',
  pattern: `^(${COUNT_OR_PERCENT_HTML_PATTERN})$`,
};

const schemas = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string' },
          message: { type: 'string' },
          field: { type: 'string', description: 'the offending input field' },
        },
      },
    },
  },
  Accepted: {
    type: 'object',
    required: ['name', 'workflowId'],
    properties: { name: { type: 'string' }, workflowId: { type: 'string' } },
  },
  DevicesDeleted: {
    type: 'object',
    required: ['items', 'failed'],
    properties: {
      items: { type: 'array', description: 'devices being deleted', items: ref('Accepted') },
      failed: {
        type: 'array',
        description: 'devices whose deprovisioning could not start',
        items: {
          type: 'object',
          required: ['name', 'message'],
          properties: { name: { type: 'string' }, message: { type: 'string' } },
        },
      },
    },
  },
  ObjectMeta: {
    type: 'object',
    required: ['name', 'namespace', 'labels', 'uid', 'generation', 'creationTimestamp'],
    properties: {
      name: { type: 'string' },
      namespace: { type: 'string' },
      labels,
      uid: { type: 'string' },
      generation: { type: 'integer' },
      resourceVersion: { type: 'string' },
      creationTimestamp: { type: 'string', format: 'date-time' },
    },
  },
  Condition: {
    type: 'object',
    required: ['type', 'status'],
    properties: {
      type: { type: 'string' },
      status: { enum: [...CONDITION_STATUSES] },
      reason: { type: 'string' },
      message: { type: 'string' },
      lastTransitionTime: { type: 'string' },
    },
  },
  ProvisioningStep: {
    type: 'object',
    required: ['name', 'state'],
    properties: {
      name: { type: 'string' },
      state: { enum: [...PROVISIONING_STEP_STATES] },
      message: { type: 'string' },
      startedAt: { type: 'string' },
      finishedAt: { type: 'string' },
    },
  },
  DeviceCreate: DEVICE_CREATE_SCHEMA,
  Device: {
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec', 'status'],
    properties: {
      apiVersion: { const: 'wasmbed.io/v1alpha1' },
      kind: { const: 'Device' },
      metadata: ref('ObjectMeta'),
      spec: {
        type: 'object',
        required: ['mcuType', 'runtime'],
        properties: {
          mcuType: { enum: [...MCU_TYPES] },
          runtime: { enum: [...DEVICE_RUNTIMES] },
          gateway: { type: 'string' },
          firmware: { type: 'string' },
          labels,
          enrollment: { enum: [...ENROLLMENT_MODES] },
        },
      },
      status: {
        type: 'object',
        required: ['phase'],
        properties: {
          phase: { enum: [...DEVICE_PHASES] },
          gateway: {
            type: 'object',
            required: ['name', 'endpoint'],
            properties: { name: { type: 'string' }, endpoint: { type: 'string' } },
          },
          host: { type: 'string', description: 'The device host that runs its emulator.' },
          identity: {
            type: 'object',
            properties: {
              certSerial: { type: 'string' },
              spkiSha256: { type: 'string' },
              notAfter: { type: 'string' },
            },
          },
          lastHeartbeat: { type: 'string' },
          conditions: { type: 'array', items: ref('Condition') },
          steps: { type: 'array', items: ref('ProvisioningStep') },
          apps: { type: 'object' },
          workflowId: { type: 'string' },
          observedGeneration: { type: 'integer' },
          message: { type: 'string' },
          enrollment: {
            type: 'object',
            required: ['state'],
            properties: {
              state: { enum: [...ENROLLMENT_STATES] },
              csrFingerprint: { type: 'string' },
              keyType: { type: 'string' },
              sourceAddress: { type: 'string' },
              gateway: { type: 'string' },
              claim: { type: 'string' },
              requestedAt: { type: 'string' },
              decidedAt: { type: 'string' },
              reason: { type: 'string' },
              workflowId: { type: 'string' },
            },
          },
        },
      },
    },
  },
  ClaimCredentialCreate: CLAIM_CREDENTIAL_CREATE_SCHEMA,
  ClaimCertificateCreate: CLAIM_CERTIFICATE_CREATE_SCHEMA,
  EnrollmentToken: {
    type: 'object',
    required: ['id', 'token', 'expiresAt', 'name'],
    properties: {
      id: { type: 'string' },
      token: { type: 'string', description: 'shown once; the platform keeps only its SHA-256' },
      expiresAt: { type: 'string', format: 'date-time' },
      name: { type: ['string', 'null'] },
    },
  },
  ClaimCertificate: {
    type: 'object',
    required: ['id', 'certPem', 'keyPem', 'expiresAt', 'name'],
    properties: {
      id: { type: 'string' },
      certPem: { type: 'string', description: 'signed by the claim CA: good for enrolling only' },
      keyPem: { type: 'string', description: 'the claim key, returned once and not kept' },
      expiresAt: { type: 'string', format: 'date-time' },
      name: { type: 'string' },
    },
  },
  ClaimCredential: {
    type: 'object',
    required: ['id', 'kind', 'deviceName', 'state', 'createdAt', 'expiresAt'],
    properties: {
      id: { type: 'string' },
      kind: { enum: ['token', 'certificate'] },
      deviceName: { type: ['string', 'null'] },
      state: { enum: [...CLAIM_STATES] },
      createdAt: { type: 'string' },
      expiresAt: { type: 'string' },
      revokedAt: { type: ['string', 'null'] },
      usedAt: { type: ['string', 'null'] },
      usedBy: { type: ['string', 'null'] },
      reason: { type: ['string', 'null'] },
    },
  },
  ClaimCredentialList: {
    type: 'object',
    required: ['items', 'metadata'],
    properties: { items: { type: 'array', items: ref('ClaimCredential') }, metadata: ref('ListMeta') },
  },
  PendingEnrollment: {
    type: 'object',
    required: ['name', 'csrFingerprint', 'sourceAddress', 'ageSeconds', 'workflowId'],
    properties: {
      name: { type: 'string' },
      csrFingerprint: { type: 'string', description: "SHA-256 (hex) of the CSR's SubjectPublicKeyInfo" },
      keyType: { type: ['string', 'null'] },
      sourceAddress: { type: ['string', 'null'] },
      gateway: { type: ['string', 'null'] },
      claim: { type: ['string', 'null'] },
      requestedAt: { type: ['string', 'null'] },
      ageSeconds: { type: 'integer' },
      workflowId: { type: 'string' },
    },
  },
  PendingEnrollmentList: {
    type: 'object',
    required: ['items', 'metadata'],
    properties: { items: { type: 'array', items: ref('PendingEnrollment') }, metadata: ref('ListMeta') },
  },
  EnrollmentReject: ENROLLMENT_REJECT_SCHEMA,
  ListMeta: {
    type: 'object',
    properties: {
      continue: { type: 'string', description: 'present when more items follow: pass it as `continue`' },
      remainingItemCount: { type: 'integer', minimum: 1, description: 'matching items after this page' },
    },
  },
  DeviceBatchCreate: DEVICE_BATCH_CREATE_SCHEMA,
  DeviceBatchCreated: {
    type: 'object',
    required: ['name', 'total', 'started', 'failed', 'devices'],
    properties: {
      name: { type: 'string' },
      total: { type: 'integer' },
      started: { type: 'integer' },
      failed: {
        type: 'array',
        description: 'devices whose workflow could not start (removed again)',
        items: {
          type: 'object',
          required: ['name', 'message'],
          properties: { name: { type: 'string' }, message: { type: 'string' } },
        },
      },
      devices: { type: 'array', items: { type: 'string' } },
    },
  },
  DeviceBatchProgress: {
    type: 'object',
    required: ['name', 'total', 'counts', 'settled'],
    properties: {
      name: { type: 'string' },
      total: { type: 'integer' },
      counts: { type: 'object', additionalProperties: { type: 'integer' }, description: 'devices by phase' },
      settled: { type: 'boolean', description: 'every device is Connected or Failed' },
    },
  },
  DeviceList: {
    type: 'object',
    required: ['items', 'metadata'],
    properties: { items: { type: 'array', items: ref('Device') }, metadata: ref('ListMeta') },
  },
  TimelineEntry: {
    type: 'object',
    required: ['name', 'state'],
    properties: {
      name: { type: 'string', description: 'step (activity) name' },
      state: { enum: ['Pending', 'Running', 'Succeeded', 'Failed', 'Canceled', 'TimedOut'] },
      attempt: { type: 'integer' },
      startedAt: { type: 'string' },
      finishedAt: { type: 'string' },
      message: { type: 'string' },
      local: {
        const: true,
        description:
          'a local activity: its times are those of the marker recorded when its workflow task ended',
      },
    },
  },
  Timeline: {
    type: 'object',
    required: ['source', 'steps'],
    properties: {
      source: { enum: ['history', 'status'] },
      workflowId: { type: 'string' },
      runId: { type: 'string' },
      workflowStatus: { type: 'string' },
      steps: { type: 'array', items: ref('TimelineEntry') },
      recovery: { type: 'array', items: ref('TimelineEntry') },
    },
  },
  LogEntry: {
    type: 'object',
    required: ['id', 'device', 'time', 'kind', 'level', 'message'],
    properties: {
      id: { type: 'integer' },
      device: { type: 'string' },
      time: { type: 'string' },
      appId: { type: ['string', 'null'] },
      kind: { enum: ['log', 'publish'] },
      level: { type: 'integer' },
      message: { type: 'string' },
    },
  },
  LogList: {
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: ref('LogEntry') } },
  },
  ModuleRef: {
    type: 'object',
    required: ['sha256', 'size'],
    properties: { sha256: SHA256_SCHEMA, size: { type: 'integer' } },
  },
  ApplicationCreate: APPLICATION_CREATE_SCHEMA,
  ApplicationUpload: {
    type: 'object',
    description:
      'The multipart/form-data form of ApplicationCreate. The module is the file part "wasm"; the ' +
      'object fields are JSON text (target, strategy, limits, env, args) or the simple fields below. ' +
      'Empty fields count as absent; an unknown or repeated field is refused. The body may be at ' +
      'most 1 MiB + 64 KiB (413 beyond), each text field 16 KiB.',
    required: ['wasm', 'name'],
    additionalProperties: false,
    properties: {
      wasm: {
        type: 'string',
        // OpenAPI 3.1's spelling of a file part; the part's own type is in the encoding below.
        contentMediaType: 'application/octet-stream',
        description: 'the module: a file part (filename= given), application/wasm',
      },
      name: dnsLabelSchema(),
      entry: { type: 'string' },
      target: {
        type: 'string',
        description: 'JSON, as in ApplicationCreate; or one of devices, selector, all',
      },
      devices: { type: 'string', description: 'comma-separated device names' },
      selector: { type: 'string', description: 'key=value,key=value' },
      all: { type: 'string', enum: ['true', 'on', '1'] },
      strategy: { type: 'string', description: 'JSON, or the strategy type (AllAtOnce, Rolling, Canary)' },
      maxUnavailable: COUNT_OR_PERCENT_FIELD,
      canary: COUNT_OR_PERCENT_FIELD,
      pauseAfterCanary: { type: 'string', enum: ['true', 'false', 'on', 'off', '1', '0'] },
      failureThreshold: { type: 'string', pattern: '^[0-9]+$' },
      limits: { type: 'string', description: 'JSON, or the fields memoryPages and cpuMsPerCall' },
      memoryPages: { type: 'string', pattern: '^[0-9]+$' },
      cpuMsPerCall: { type: 'string', pattern: '^[0-9]+$' },
      env: { type: 'string', description: 'JSON object of strings' },
      args: { type: 'string', description: 'JSON array of strings' },
    },
  },
  Application: {
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec', 'status'],
    properties: {
      apiVersion: { const: 'wasmbed.io/v1alpha1' },
      kind: { const: 'Application' },
      metadata: ref('ObjectMeta'),
      spec: {
        type: 'object',
        required: ['module', 'entry', 'target', 'strategy'],
        properties: {
          module: ref('ModuleRef'),
          entry: { type: 'string' },
          target: { type: 'object' },
          strategy: {
            type: 'object',
            required: ['type'],
            properties: { type: { enum: [...ROLLOUT_STRATEGIES] } },
          },
          limits: { type: 'object' },
          env: { type: 'object' },
          args: { type: 'array', items: { type: 'string' } },
        },
      },
      status: {
        type: 'object',
        required: ['phase', 'devices', 'counts'],
        properties: {
          phase: { enum: [...APPLICATION_PHASES] },
          devices: {
            type: 'object',
            additionalProperties: {
              type: 'object',
              required: ['state'],
              properties: {
                state: { enum: [...APP_DEVICE_STATES] },
                error: { type: ['string', 'null'] },
                restarts: { type: 'integer' },
                since: { type: 'string' },
                awaitingRollout: {
                  type: 'boolean',
                  description:
                    'the rollout in progress has not reached this device yet: state is that of what it ran before (Pending: nothing); with awaitingPromotion it waits for the promote',
                },
              },
            },
          },
          counts: {
            type: 'object',
            required: ['targeted', 'running', 'failed', 'pending'],
            properties: {
              targeted: { type: 'integer' },
              running: { type: 'integer' },
              failed: { type: 'integer' },
              pending: { type: 'integer' },
            },
          },
          workflowId: { type: 'string' },
          message: { type: 'string' },
          awaitingPromotion: {
            type: 'boolean',
            description: 'a Canary paused after its first wave, waiting for promote or abort',
          },
        },
      },
    },
  },
  ApplicationList: {
    type: 'object',
    required: ['items', 'metadata'],
    properties: { items: { type: 'array', items: ref('Application') }, metadata: ref('ListMeta') },
  },
  Gateway: {
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec', 'status'],
    properties: {
      apiVersion: { const: 'wasmbed.io/v1alpha1' },
      kind: { const: 'Gateway' },
      metadata: ref('ObjectMeta'),
      spec: {
        type: 'object',
        required: ['endpoint'],
        properties: {
          endpoint: { type: 'string' },
          maxDevices: { type: 'integer' },
          heartbeatIntervalSeconds: { type: 'number' },
          heartbeatTimeoutSeconds: { type: 'number' },
        },
      },
      status: {
        type: 'object',
        required: ['phase', 'connectedDevices'],
        properties: {
          phase: { enum: [...GATEWAY_PHASES] },
          connectedDevices: { type: 'integer' },
          lastSeen: { type: 'string' },
          taskQueue: { type: 'string' },
          conditions: { type: 'array', items: ref('Condition') },
        },
      },
    },
  },
  GatewayList: {
    type: 'object',
    required: ['items', 'metadata'],
    properties: { items: { type: 'array', items: ref('Gateway') }, metadata: ref('ListMeta') },
  },
  ProcessHealth: {
    type: 'object',
    required: ['name', 'kind', 'status', 'detail'],
    properties: {
      name: { type: 'string' },
      kind: { enum: ['web', 'temporal', 'orchestrator', 'gateway', 'host'] },
      status: { enum: ['ok', 'degraded', 'down', 'unknown'] },
      detail: { type: 'string' },
      url: { type: 'string' },
      metrics: { type: 'object', additionalProperties: { type: 'number' } },
    },
  },
  Health: {
    type: 'object',
    required: ['checkedAt', 'processes'],
    properties: {
      checkedAt: { type: ['string', 'null'] },
      processes: { type: 'array', items: ref('ProcessHealth') },
    },
  },
};

/** A `limit` query parameter: a list's page size, or how many of a device's log lines. */
const LIMIT_SCHEMA = { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT };

/** `limit` and `continue` of every list, then the list's own filters. */
const listParams = (...filters: object[]) => [
  {
    name: 'limit',
    in: 'query',
    schema: LIMIT_SCHEMA,
    description: 'page size; without it the whole (filtered) list',
  },
  {
    name: 'continue',
    in: 'query',
    schema: { type: 'string', minLength: 1, maxLength: 2048 },
    description: "the previous page's metadata.continue (only with the same filters)",
  },
  ...filters,
];
/** A list's filter: one of LIST_FILTER_PARAMS (store/list-query.ts), the filters lists read. */
const filterParam = (name: keyof ListFilters, schema: object, description?: string) => ({
  name,
  in: 'query',
  schema,
  ...(description ? { description } : {}),
});
const labelSelectorParam = filterParam(
  'labelSelector',
  { type: 'string', minLength: 1, maxLength: 1024 },
  'Kubernetes equality-based selector: `k=v`, `k!=v`, `k`, `!k`, comma-separated (all must hold)',
);
const namePrefixParam = filterParam(
  'namePrefix',
  { type: 'string', minLength: 1, maxLength: 63 },
  'names starting with this',
);

/** A device list's filters; a delete of many devices takes the same. */
const deviceFilterParams = [
  filterParam('phase', { enum: [...DEVICE_PHASES] }),
  filterParam('runtime', { enum: [...DEVICE_RUNTIMES] }),
  filterParam('mcuType', { enum: [...MCU_TYPES] }),
  filterParam(
    'gateway',
    { type: 'string', minLength: 1, maxLength: 63 },
    "the device's gateway (or the one it asked for while it has none)",
  ),
  labelSelectorParam,
  namePrefixParam,
  filterParam(
    'app',
    dnsLabelSchema(),
    "devices with this application (in the device's `status.apps`, in any state)",
  ),
  filterParam(
    'appState',
    { enum: [...APP_DEVICE_STATES] },
    'with `app`: only the devices where it is in this state (`status.apps.<app>.state`); without `app`, 400',
  ),
];

const accepted = {
  '202': { description: 'accepted; a workflow is running', content: json(ref('Accepted')) },
};

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'Wasmbed API',
    version: 'v1',
    description:
      'Devices, applications and gateways of a Wasmbed platform. Beyond localhost every request needs ' +
      '`Authorization: Bearer <WASMBED_API_TOKEN>`. State-changing requests from a browser must come from ' +
      'the same origin. Errors are `{error: {code, message, field?}}`. An operation with query ' +
      'parameters takes those it declares and no others: another is refused with 400 naming it.',
  },
  servers: [{ url: '/api/v1' }],
  components: {
    schemas,
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
  },
  security: [{}, { bearer: [] }],
  paths: {
    '/devices': {
      get: {
        operationId: 'listDevices',
        summary: 'List devices in name order, a page at a time, optionally filtered',
        parameters: listParams(...deviceFilterParams),
        responses: {
          '200': { description: 'devices', content: json(ref('DeviceList')) },
          ...errorResponses(400, 431),
        },
      },
      post: {
        operationId: 'createDevice',
        summary: 'Create a device and start provisioning it',
        requestBody: { required: true, content: json(ref('DeviceCreate')) },
        responses: { ...accepted, ...errorResponses(400, 409, 415, 503) },
      },
      delete: {
        operationId: 'deleteDevices',
        summary:
          'Deprovision and delete every device the filters select (at least one filter; the same filters as the list)',
        parameters: deviceFilterParams,
        responses: {
          '202': { description: 'deprovisioning started', content: json(ref('DevicesDeleted')) },
          ...errorResponses(400, 431, 503),
        },
      },
    },
    '/device-batches': {
      post: {
        operationId: 'createDeviceBatch',
        summary: 'Create many devices at once and start provisioning them (all validated first)',
        requestBody: { required: true, content: json(ref('DeviceBatchCreate')) },
        responses: {
          '202': { description: 'created; provisioning started', content: json(ref('DeviceBatchCreated')) },
          ...errorResponses(400, 409, 415, 503),
        },
      },
    },
    '/device-batches/{name}': {
      parameters: [nameParam],
      get: {
        operationId: 'getDeviceBatch',
        summary: "A batch's devices by phase (label wasmbed.io/batch=<name>)",
        responses: {
          '200': { description: 'progress', content: json(ref('DeviceBatchProgress')) },
          ...errorResponses(400, 404),
        },
      },
    },
    '/devices/{name}': {
      parameters: [nameParam],
      get: {
        operationId: 'getDevice',
        responses: {
          '200': { description: 'the device', content: json(ref('Device')) },
          ...errorResponses(404),
        },
      },
      delete: {
        operationId: 'deleteDevice',
        summary: 'Deprovision and delete a device',
        responses: { ...accepted, ...errorResponses(404, 503) },
      },
    },
    '/devices/{name}/retry': {
      parameters: [nameParam],
      post: {
        operationId: 'retryDevice',
        summary: 'New provisioning run for a Failed device',
        responses: { ...accepted, ...errorResponses(404, 409, 503) },
      },
    },
    '/devices/{name}/restart': {
      parameters: [nameParam],
      post: {
        operationId: 'restartDevice',
        summary: 'New provisioning run for a device that is not provisioning (re-runs every idempotent step)',
        responses: { ...accepted, ...errorResponses(404, 409, 503) },
      },
    },
    '/devices/{name}/rotate-certificate': {
      parameters: [nameParam],
      post: {
        operationId: 'rotateCertificate',
        summary: 'New device certificate now, delivered by its lifecycle workflow; apps keep running',
        responses: { ...accepted, ...errorResponses(404, 409, 503) },
      },
    },
    '/devices/{name}/timeline': {
      parameters: [nameParam],
      get: {
        operationId: 'deviceTimeline',
        summary: 'Provisioning steps from the workflow history (falls back to status.steps)',
        responses: {
          '200': { description: 'timeline', content: json(ref('Timeline')) },
          ...errorResponses(404),
        },
      },
    },
    '/devices/{name}/logs': {
      parameters: [nameParam],
      get: {
        operationId: 'deviceLogs',
        summary: 'UART and app output of a device, oldest first',
        parameters: [
          {
            name: 'after',
            in: 'query',
            schema: { type: 'integer', minimum: 0 },
            description: 'only ids above this',
          },
          {
            name: 'app',
            in: 'query',
            schema: dnsLabelSchema(),
            description: "only this application's lines and publishes (its name)",
          },
          {
            name: 'limit',
            in: 'query',
            schema: LIMIT_SCHEMA,
            description: 'at most this many, the newest of them (200 without it)',
          },
        ],
        responses: {
          '200': { description: 'log entries', content: json(ref('LogList')) },
          ...errorResponses(400, 404),
        },
      },
    },
    '/modules': {
      post: {
        operationId: 'uploadModule',
        summary: 'Upload a WebAssembly module; answers its content hash',
        description:
          'Refer to it by hash in an Application (`moduleSha256`). A module no Application uses is ' +
          'removed once it was last uploaded or deployed longer ago than WASMBED_MODULE_RETENTION_MS (a day).',
        requestBody: {
          required: true,
          content: {
            'application/wasm': { schema: { type: 'string', contentMediaType: 'application/wasm' } },
          },
        },
        responses: {
          '201': { description: 'stored', content: json(ref('ModuleRef')) },
          ...errorResponses(400, 413, 415, 422),
        },
      },
    },
    '/applications': {
      get: {
        operationId: 'listApplications',
        summary: 'List applications in name order, a page at a time, optionally filtered',
        parameters: listParams(
          filterParam('phase', { enum: [...APPLICATION_PHASES] }),
          labelSelectorParam,
          namePrefixParam,
        ),
        responses: {
          '200': { description: 'applications', content: json(ref('ApplicationList')) },
          ...errorResponses(400, 431),
        },
      },
      post: {
        operationId: 'createApplication',
        summary: 'Deploy an application to its targets',
        description:
          'JSON with the module as base64 in `wasm` (or `moduleSha256` of a module uploaded to ' +
          '/modules), or multipart/form-data with the module as the file part `wasm`.',
        requestBody: {
          required: true,
          content: {
            ...json(ref('ApplicationCreate')),
            'multipart/form-data': {
              schema: ref('ApplicationUpload'),
              encoding: { wasm: { contentType: 'application/wasm, application/octet-stream' } },
            },
          },
        },
        responses: { ...accepted, ...errorResponses(400, 409, 413, 415, 422, 503) },
      },
    },
    '/applications/{name}': {
      parameters: [nameParam],
      get: {
        operationId: 'getApplication',
        responses: {
          '200': { description: 'the application', content: json(ref('Application')) },
          ...errorResponses(404),
        },
      },
      put: {
        operationId: 'updateApplication',
        summary: 'Roll out a new version; a failing rollout goes back to the version that ran before',
        requestBody: {
          required: true,
          content: {
            ...json(ref('ApplicationCreate')),
            'multipart/form-data': {
              schema: ref('ApplicationUpload'),
              encoding: { wasm: { contentType: 'application/wasm, application/octet-stream' } },
            },
          },
        },
        responses: { ...accepted, ...errorResponses(400, 404, 413, 415, 422, 503) },
      },
      delete: {
        operationId: 'deleteApplication',
        summary: 'Stop the application on every device and delete it',
        responses: { ...accepted, ...errorResponses(404, 503) },
      },
    },
    '/applications/{name}/promote': {
      parameters: [nameParam],
      post: {
        operationId: 'promoteApplication',
        summary: 'Continue a Canary rollout paused after its first wave',
        responses: {
          '202': {
            description: 'signalled',
            content: json({ type: 'object', required: ['name'], properties: { name: { type: 'string' } } }),
          },
          ...errorResponses(404, 409),
        },
      },
    },
    '/applications/{name}/abort': {
      parameters: [nameParam],
      post: {
        operationId: 'abortApplication',
        summary: 'Roll back a Canary rollout paused after its first wave',
        responses: {
          '202': {
            description: 'signalled',
            content: json({ type: 'object', required: ['name'], properties: { name: { type: 'string' } } }),
          },
          ...errorResponses(404, 409),
        },
      },
    },
    '/applications/{name}/stop': {
      parameters: [nameParam],
      post: {
        operationId: 'stopApplication',
        summary: 'Stop the application on its devices and keep it, Stopped',
        responses: { ...accepted, ...errorResponses(404, 503) },
      },
    },
    '/gateways': {
      get: {
        operationId: 'listGateways',
        summary: 'List gateways in name order, a page at a time',
        parameters: listParams(
          filterParam('phase', { enum: ['Pending', 'Ready', 'Unavailable'] }),
          namePrefixParam,
        ),
        responses: {
          '200': { description: 'gateways', content: json(ref('GatewayList')) },
          ...errorResponses(400, 431),
        },
      },
    },
    '/health': {
      get: {
        operationId: 'health',
        summary: 'Health of every platform process, as the overview page shows it',
        responses: { '200': { description: 'health', content: json(ref('Health')) } },
      },
    },
    '/pki/ca.pem': {
      get: {
        operationId: 'deviceCa',
        summary: 'The CA certificate devices must trust (PEM)',
        responses: {
          '200': {
            description: 'the device CA certificate',
            content: { 'application/x-pem-file': { schema: { type: 'string' } } },
          },
        },
      },
    },
    '/enrollment-tokens': {
      get: {
        operationId: 'listClaimCredentials',
        summary: 'Claim credentials (enrollment tokens and claim certificates), without secrets, by id',
        parameters: listParams(),
        responses: {
          '200': { description: 'claim credentials', content: json(ref('ClaimCredentialList')) },
          ...errorResponses(400, 431),
        },
      },
      post: {
        operationId: 'createEnrollmentToken',
        summary: 'A single-use, expiring enrollment token (the token is returned once)',
        requestBody: { required: false, content: json(ref('ClaimCredentialCreate')) },
        responses: {
          '201': { description: 'the token', content: json(ref('EnrollmentToken')) },
          ...errorResponses(400, 415),
        },
      },
    },
    '/enrollment-tokens/{id}': {
      parameters: [{ ...nameParam, name: 'id' }],
      delete: {
        operationId: 'revokeClaimCredential',
        summary: 'Revoke a claim credential (token or claim certificate)',
        responses: {
          '200': { description: 'the revoked credential', content: json(ref('ClaimCredential')) },
          ...errorResponses(404),
        },
      },
    },
    '/claim-certificates': {
      post: {
        operationId: 'createClaimCertificate',
        summary: 'A claim certificate from the claim CA for one device name (factory provisioning)',
        requestBody: { required: true, content: json(ref('ClaimCertificateCreate')) },
        responses: {
          '201': { description: 'certificate and claim key', content: json(ref('ClaimCertificate')) },
          ...errorResponses(400, 415),
        },
      },
    },
    '/enrollments': {
      get: {
        operationId: 'listEnrollments',
        summary: 'Enrollments waiting for an operator, by device name',
        parameters: listParams(namePrefixParam),
        responses: {
          '200': { description: 'pending enrollments', content: json(ref('PendingEnrollmentList')) },
          ...errorResponses(400, 431),
        },
      },
    },
    '/enrollments/{name}/approve': {
      parameters: [nameParam],
      post: {
        operationId: 'approveEnrollment',
        summary: 'Approve a pending enrollment: the board gets its certificate',
        responses: { ...accepted, ...errorResponses(404, 409, 503) },
      },
    },
    '/enrollments/{name}/reject': {
      parameters: [nameParam],
      post: {
        operationId: 'rejectEnrollment',
        summary: 'Reject a pending enrollment: the board gets EnrollmentRejected with the reason',
        requestBody: { required: false, content: json(ref('EnrollmentReject')) },
        responses: { ...accepted, ...errorResponses(400, 404, 409, 415, 503) },
      },
    },
    '/openapi.json': {
      get: { operationId: 'openapi', responses: { '200': { description: 'this document' } } },
    },
  },
} as const;

// ---- validation -------------------------------------------------------------------------

const DOC_ID = 'https://wasmbed.io/api/v1/openapi.json';

export function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: false, verbose: true, coerceTypes: false });
  ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)));
  ajv.addSchema({ $id: DOC_ID, components: OPENAPI_DOCUMENT.components }, DOC_ID);
  return ajv;
}

/** Compiles a schema from the document (a $ref into components, or inline with refs inside). */
export function compileSchema(ajv: Ajv2020, schema: object): ValidateFunction {
  const r = (schema as { $ref?: string }).$ref;
  if (r) return ajv.compile({ $ref: `${DOC_ID}${r}` });
  // Inline schemas may themselves contain #/components refs: rewrite them to absolute ones.
  const text = JSON.stringify(schema).replaceAll('"#/components/', `"${DOC_ID}#/components/`);
  return ajv.compile(JSON.parse(text));
}

function fieldOf(err: ErrorObject, prefix: string): string {
  const parts = err.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (err.keyword === 'required') parts.push((err.params as { missingProperty: string }).missingProperty);
  if (err.keyword === 'dependentRequired') parts.push((err.params as { property: string }).property);
  let field = prefix;
  for (const part of parts) {
    if (/^\d+$/.test(part)) field += `[${part}]`;
    else field += field ? `.${part}` : part;
  }
  return field || 'body';
}

/**
 * The error to report from ajv's list: an anyOf/oneOf failure explains itself better than the
 * failures of its branches, which ajv lists first.
 */
export function pickError(errors: ErrorObject[]): ErrorObject {
  return errors.find((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf') ?? errors[0]!;
}

/** A JSON type as a message names it: "a string", "an object", "null". */
const withArticle = (type: string): string =>
  type === 'null' ? type : `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;

/** One ajv error as a message a person can act on, naming the field. */
export function describeError(err: ErrorObject, prefix = ''): ValidationError {
  let field = fieldOf(err, prefix);
  const value = shown(err.data);
  const described = (err.parentSchema as { description?: string } | undefined)?.description;
  const pattern = (err.parentSchema as { pattern?: string } | undefined)?.pattern;
  if ((err.keyword === 'pattern' || err.keyword === 'maxLength') && err.propertyName !== undefined) {
    // A key of a map (propertyNames): name the key, as validateLabels does.
    const keyOf = field;
    field = `${keyOf}.${err.propertyName}`;
    if (pattern === LABEL_KEY_PATTERN)
      return new ValidationError(field, `${keyOf} key ${value} ${LABEL_KEY_MESSAGE}`);
  }
  if ((err.keyword === 'pattern' || err.keyword === 'maxLength') && pattern === LABEL_VALUE_PATTERN)
    return new ValidationError(field, `${field} value ${value} ${LABEL_VALUE_MESSAGE}`);
  let message: string;
  switch (err.keyword) {
    case 'anyOf':
    case 'oneOf': {
      const branches = (err.schema ?? []) as { required?: string[] }[];
      const alternatives = branches.map((b) => (Object.keys(b).length === 1 ? b.required?.[0] : undefined));
      if (alternatives.every((a) => a !== undefined)) {
        // Alternatives that are only "this field is present": name the fields.
        field = fieldOf(
          { ...err, keyword: 'required', params: { missingProperty: alternatives[0] } },
          prefix,
        );
        message = `one of ${alternatives.join(', ')} is required${described ? ` (${described})` : ''}`;
      } else {
        message = `${field} ${value} is not allowed${described ? `: ${described}` : ''}`;
      }
      break;
    }
    case 'additionalProperties': {
      const extra = (err.params as { additionalProperty: string }).additionalProperty;
      field = field === 'body' ? extra : `${field}.${extra}`;
      message = `${field} is not a field of this request`;
      break;
    }
    case 'minProperties':
    case 'maxProperties':
      message = described ? `${field} must have ${described}` : `${field} ${err.message}`;
      break;
    case 'required':
      // Required only under a condition (an if/then rule): its description says which.
      message = `${field} is required${described && err.schemaPath.includes('/then/') ? ` ${described}` : ''}`;
      break;
    case 'dependentRequired': {
      const p = err.params as { property: string; missingProperty: string };
      message = `${field} goes with ${p.missingProperty}: give ${p.missingProperty} too, or leave ${p.property} out`;
      break;
    }
    case 'enum':
      message = described
        ? `${field} ${value} ${described}`
        : `${field} ${value} is unknown; expected one of ${(err.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
      break;
    case 'const':
      // Under a condition (an if/then rule) its description says why; else the one value.
      message =
        described && err.schemaPath.includes('/then/')
          ? `${field} ${value} ${described}`
          : `${field} must be ${JSON.stringify((err.params as { allowedValue: unknown }).allowedValue)}`;
      break;
    case 'pattern':
      message =
        (err.params as { pattern: string }).pattern === DNS_LABEL_PATTERN
          ? `${field} ${value} ${DNS_LABEL_MESSAGE}`
          : `${field} ${value} must match ${(err.params as { pattern: string }).pattern}`;
      break;
    case 'maxLength':
      message =
        (err.parentSchema as { pattern?: string } | undefined)?.pattern === DNS_LABEL_PATTERN
          ? `${field} ${value} ${DNS_LABEL_MESSAGE}`
          : `${field} ${err.message}`;
      break;
    case 'type':
      message = `${field} must be ${[(err.params as { type: string | string[] }).type].flat().map(withArticle).join(' or ')}`;
      break;
    default:
      message = `${field} ${err.message ?? 'is invalid'}`;
  }
  return new ValidationError(field, message);
}

interface Operation {
  method: string;
  regex: RegExp;
  params: string[];
  body?: ValidateFunction;
  bodyRequired: boolean;
  query: { name: string; validate: ValidateFunction; integer: boolean }[];
  /** The query parameters the operation declares: one that has any takes no other. */
  queryNames: string[];
}

interface ParameterObject {
  name: string;
  in: string;
  schema: { type?: string };
}

/**
 * An operation's query parameters: the ones its path declares for all its operations, then its
 * own, which replace a path-level one of the same name (OpenAPI 3.1, "Path Item Object"). Read
 * from the operation alone, a path-level one would be neither validated nor taken.
 */
export function queryParametersOf(
  pathParameters: readonly ParameterObject[] | undefined,
  operationParameters: readonly ParameterObject[] | undefined,
): ParameterObject[] {
  const own = (operationParameters ?? []).filter((p) => p.in === 'query');
  const inherited = (pathParameters ?? []).filter(
    (p) => p.in === 'query' && !own.some((o) => o.name === p.name),
  );
  return [...inherited, ...own];
}

/** Every operation of the document, with the regex of its path. */
function operationsOf(ajv?: Ajv2020): Operation[] {
  const operations: Operation[] = [];
  for (const [pathTemplate, item] of Object.entries(OPENAPI_DOCUMENT.paths)) {
    const params: string[] = [];
    const regex = new RegExp(
      `^${pathTemplate.replace(/[.]/g, '\\.').replace(/\{(\w+)\}/g, (_m, p: string) => {
        params.push(p);
        return '([^/]+)';
      })}/?$`,
    );
    const pathParameters = (item as { parameters?: ParameterObject[] }).parameters;
    for (const [method, op] of Object.entries(item)) {
      if (method === 'parameters') continue;
      const operation = op as {
        parameters?: ParameterObject[];
        requestBody?: { required?: boolean; content: Record<string, { schema: object }> };
      };
      const jsonBody = operation.requestBody?.content['application/json']?.schema;
      const queryParams = queryParametersOf(pathParameters, operation.parameters);
      operations.push({
        method: method.toUpperCase(),
        regex,
        params,
        body: jsonBody && ajv ? compileSchema(ajv, jsonBody) : undefined,
        bodyRequired: operation.requestBody?.required === true,
        queryNames: queryParams.map((p) => p.name),
        query: ajv
          ? queryParams.map((p) => ({
              name: p.name,
              validate: compileSchema(ajv, p.schema),
              integer: p.schema.type === 'integer',
            }))
          : [],
      });
    }
  }
  return operations;
}

/**
 * Methods the document does not declare for a path it has answer 405 with `Allow` (OPTIONS:
 * 204 with `Allow`); HEAD goes where GET is declared. Mounted first under /api/v1, so an
 * undeclared method never reaches a handler, whatever its body.
 */
export function methodGuard() {
  const operations = operationsOf();
  return (req: Request, res: Response, next: NextFunction) => {
    const here = operations.filter((o) => o.regex.test(req.path));
    if (here.length === 0) return next(); // not a path of the document: 404 later
    const methods = here.map((o) => o.method);
    if (methods.includes(req.method) || (req.method === 'HEAD' && methods.includes('GET'))) return next();
    const allow = [...methods, ...(methods.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
    res.setHeader('allow', allow);
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    res.status(405).json({
      error: {
        code: 'MethodNotAllowed',
        message: `${req.method} is not allowed on /api/v1${req.path}; allowed: ${allow}`,
      },
    });
  };
}

/** Whether the request carries a body (curl's bodiless `-X POST` sends no Content-Length). */
export function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * An operation with query parameters (the lists, the delete of many devices, a device's log)
 * refuses one it does not declare, naming it and the ones it takes: it ignored it, so a
 * misspelt filter (`labelselector=…`) or another list's (`/applications?mcuType=…`) answered as
 * if it was not there — the whole list, or every device the other filters selected deleted.
 * (Operations without any declare no 400 to answer with, and have no parameter to misspell.)
 */
function unknownQueryParameters(req: Request, op: Operation): ValidationError | undefined {
  if (op.queryNames.length === 0) return undefined;
  const unknown = Object.keys(req.query).filter((name) => !op.queryNames.includes(name));
  if (unknown.length === 0) return undefined;
  const named = unknown.map((name) => `"${name}"`).join(', ');
  const takes = `it takes ${op.queryNames.join(', ')}`;
  return new ValidationError(
    unknown[0]!,
    `${req.method} /api/v1${req.path} has no query parameter${unknown.length > 1 ? 's' : ''} ${named}; ${takes}`,
  );
}

/** Express middleware (mounted under /api/v1) that validates requests against the document. */
export function requestValidator(ajv: Ajv2020 = createAjv()) {
  const operations = operationsOf(ajv);
  return (req: Request, _res: Response, next: NextFunction) => {
    const op = operations.find((o) => o.method === req.method && o.regex.test(req.path));
    if (!op) return next(); // not in the document: 404 later
    const unknown = unknownQueryParameters(req, op);
    if (unknown) return next(unknown);
    for (const q of op.query) {
      const raw = req.query[q.name];
      if (raw === undefined) continue;
      if (typeof raw !== 'string') return next(new ValidationError(q.name, `${q.name} must be given once`));
      const value = q.integer && /^-?\d+$/.test(raw) ? Number(raw) : raw;
      if (!q.validate(value))
        return next(describeError({ ...pickError(q.validate.errors!), instancePath: '' }, q.name));
    }
    if (!op.body) return next();
    if (!hasBody(req)) {
      if (op.bodyRequired)
        return next(new ValidationError('body', 'a request body is required: send application/json'));
      return next();
    }
    // A multipart application upload was turned into the JSON-shaped body before this point.
    if (req.is('application/json') || req.is('multipart/form-data')) {
      if (!op.body(req.body)) return next(describeError(pickError(op.body.errors!)));
    }
    next();
  };
}
