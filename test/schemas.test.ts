/**
 * One schema per request body (common/schemas.ts): the API validates against it (Ajv, through
 * the OpenAPI document), the hand-written validators that workflows also run must accept
 * whatever it accepts, and the CRDs take their field rules from it. Pure logic, no platform.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MCU_TYPES } from '../common/mcu-profiles.js';
import { DEVICE_RUNTIMES } from '../common/resources.js';
import {
  APPLICATION_CREATE_SCHEMA,
  CLAIM_CREDENTIAL_CREATE_SCHEMA,
  CLAIM_TTL_SECONDS,
  DEVICE_BATCH_CREATE_SCHEMA,
  DEVICE_CREATE_SCHEMA,
  upToPattern,
  type JsonSchema,
} from '../common/schemas.js';
import { validateApplicationCreate, validateDeviceCreate } from '../common/validation.js';
import { CRDS, renderCrd } from '../k8s/crds/generate.js';
import { parseTtl } from '../pki/claim-credentials.js';
import { REPO_ROOT } from '../common/repo-root.js';
import { validateDeviceBatch } from '../services/device-batch-service.js';
import { createAjv } from '../web/openapi.js';

const ajv = createAjv();
const schemaAccepts = (schema: JsonSchema) => {
  const validate = ajv.compile(schema);
  return (body: unknown) => validate(body) === true;
};
const accepts = (validator: (body: unknown) => unknown) => (body: unknown) => {
  try {
    validator(body);
    return true;
  } catch {
    return false;
  }
};

describe('request schemas and validators agree', () => {
  it('on every combination of mcuType, runtime and enrollment of POST /devices', () => {
    const bySchema = schemaAccepts(DEVICE_CREATE_SCHEMA);
    const byValidator = accepts(validateDeviceCreate);
    let accepted = 0;
    for (const mcuType of [undefined, ...MCU_TYPES]) {
      for (const runtime of [undefined, ...DEVICE_RUNTIMES]) {
        for (const enrollment of [undefined, 'preauthorized']) {
          const body = { name: 'dev-1', mcuType, runtime, enrollment };
          for (const k of Object.keys(body) as (keyof typeof body)[])
            if (body[k] === undefined) delete body[k];
          expect(bySchema(body), JSON.stringify(body)).toBe(byValidator(body));
          if (bySchema(body)) accepted++;
        }
      }
    }
    expect(accepted).toBeGreaterThan(10); // the combinations that work are many, not none
  });

  it('on names, labels and extra fields of POST /devices', () => {
    const bySchema = schemaAccepts(DEVICE_CREATE_SCHEMA);
    const byValidator = accepts(validateDeviceCreate);
    const samples: [unknown, boolean][] = [
      [{ name: 'a'.repeat(63) }, true],
      [{ name: 'a'.repeat(64) }, false],
      [{ name: 'Bad_Name' }, false],
      [{ name: 'ok', labels: { 'example.com/group': 'lab-1' } }, true],
      [{ name: 'ok', labels: { '-bad': 'x' } }, false],
      [{ name: 'ok', labels: { group: 'has space' } }, false],
      [{ name: 'ok', labels: { group: 'x'.repeat(64) } }, false],
      [{ name: 'ok', gateway: 'Gw' }, false],
    ];
    for (const [body, ok] of samples) {
      expect(bySchema(body), JSON.stringify(body)).toBe(ok);
      expect(byValidator(body), JSON.stringify(body)).toBe(ok);
    }
    // The schema refuses a field it does not know (a typo must not pass silently); the
    // validator, which the Kubernetes controller also runs on a CR's spec, ignores it.
    expect(bySchema({ name: 'ok', mcutype: 'Stm32F746gDisco' })).toBe(false);
  });

  it('on batches of POST /device-batches', () => {
    const bySchema = schemaAccepts(DEVICE_BATCH_CREATE_SCHEMA);
    const byValidator = accepts(validateDeviceBatch);
    const samples: [unknown, boolean][] = [
      [{ count: 3, prefix: 'sim' }, true],
      [
        { count: 3, prefix: 'sim', start: 0, name: 'b1', labels: { group: 'lab' }, mcuType: 'Mps2An385' },
        true,
      ],
      [{ count: 2, prefix: 'q', runtime: 'qemu', mcuType: 'Mps2An385' }, true],
      [{ count: 2, prefix: 'q', runtime: 'qemu' }, false], // the default board has no network in QEMU
      [{ count: 0, prefix: 'sim' }, false],
      [{ count: 1001, prefix: 'sim' }, false],
      [{ count: 3 }, false],
      [{ prefix: 'sim' }, false],
      [{ count: 3, prefix: 'Sim' }, false],
      [{ devices: [{ name: 'a' }, { name: 'b', mcuType: 'NucleoF767zi', labels: { x: 'y' } }] }, true],
      [{ devices: [] }, false],
      [{ devices: [{ name: 'a', enrollment: 'preauthorized', runtime: 'external' }] }, false],
      [{ devices: [{ name: 'a', runtime: 'external' }] }, false],
      [{ devices: [{ name: 'Bad' }] }, false],
      [{ devices: [{ name: 'a' }], prefix: 'x' }, false],
      [{ devices: [{ name: 'a' }], start: 2 }, false],
      [{ count: 2, prefix: 'x', devices: [{ name: 'a' }] }, false],
    ];
    for (const [body, ok] of samples) {
      expect(bySchema(body), JSON.stringify(body)).toBe(ok);
      expect(byValidator(body), JSON.stringify(body)).toBe(ok);
    }
    expect(bySchema({ count: 2, prefix: 'x', colour: 'red' })).toBe(false); // a typo does not pass
  });

  it('on targets, modules and limits of POST /applications', () => {
    const bySchema = schemaAccepts(APPLICATION_CREATE_SCHEMA);
    const byValidator = accepts(validateApplicationCreate);
    const base = { name: 'app', wasm: 'AGFzbQEAAAA=' };
    const samples: [unknown, boolean][] = [
      [{ ...base, target: { all: true } }, true],
      [{ ...base, target: {} }, false],
      [{ ...base, target: { all: false } }, false],
      [{ ...base, target: { devices: [] } }, false],
      [{ ...base, target: { devices: ['d-1'], all: true } }, false],
      [{ ...base, target: { selector: {} } }, false],
      [{ ...base, target: { selector: { group: 'lab' } } }, true],
      [{ name: 'app', target: { all: true } }, false],
      [{ name: 'app', moduleSha256: 'ab'.repeat(32), target: { all: true } }, true],
      [{ ...base, target: { all: true }, entry: '9bad' }, false],
      [{ ...base, target: { all: true }, limits: { memoryPages: 0 } }, false],
      [{ ...base, target: { all: true }, limits: { memoryPages: 65536, cpuMsPerCall: null } }, true],
      [{ ...base, target: { all: true }, strategy: { type: 'Canary', canary: 0 } }, true],
      [{ ...base, target: { all: true }, strategy: { type: 'Sideways' } }, false],
      [{ ...base, target: { all: true }, strategy: { type: 'Rolling', maxUnavailable: '25%' } }, true],
      [{ ...base, target: { all: true }, strategy: { type: 'Canary', canary: '100%' } }, true],
      [{ ...base, target: { all: true }, strategy: { type: 'Rolling', maxUnavailable: '101%' } }, false],
      [{ ...base, target: { all: true }, strategy: { type: 'Rolling', maxUnavailable: '2.5%' } }, false],
      [{ ...base, target: { all: true }, strategy: { type: 'Rolling', maxUnavailable: '25' } }, false],
      [{ ...base, target: { all: true }, strategy: { type: 'Rolling', maxUnavailable: -1 } }, false],
      [{ ...base, target: { all: true }, strategy: { type: 'Canary', canary: 1.5 } }, false],
      [{ ...base, target: { all: true }, args: ['a', 1] }, false],
      [{ ...base, target: { all: true }, env: { A: 1 } }, false],
    ];
    for (const [body, ok] of samples) {
      expect(bySchema(body), JSON.stringify(body)).toBe(ok);
      expect(byValidator(body), JSON.stringify(body)).toBe(ok);
    }
  });

  it('on claim credential lifetimes: the schema states the 30-day bound the parser enforces', () => {
    const bySchema = schemaAccepts(CLAIM_CREDENTIAL_CREATE_SCHEMA);
    const byParser = accepts((ttl) => parseTtl('ttl', ttl));
    const max = CLAIM_TTL_SECONDS.max;
    const samples = [
      0,
      1,
      max,
      max + 1,
      23_485_219,
      '1',
      '0',
      '1s',
      '59m',
      '720h',
      '721h',
      '30d',
      '31d',
      '90d',
      `${max}`,
      `${max + 1}`,
      `${max}s`,
      '43200m',
      '43201m',
      '1w',
      'h',
      '',
    ];
    for (const ttl of samples) {
      // Schema-valid is always parser-valid; the parser also takes spaces and leading zeros.
      if (bySchema({ ttl })) expect(byParser(ttl), JSON.stringify(ttl)).toBe(true);
      if (byParser(ttl) && !/^0|\s/.test(String(ttl)))
        expect(bySchema({ ttl }), JSON.stringify(ttl)).toBe(true);
    }
    expect(bySchema({ ttl: 23_485_219 })).toBe(false);
  });

  it('bounds integers in a pattern exactly', () => {
    for (const max of [1, 9, 10, 30, 99, 100, 720, 43_200, 2_592_000]) {
      const re = new RegExp(`^(${upToPattern(max)})$`);
      const probes = new Set([...Array(1200).keys(), ...[...Array(400).keys()].map((k) => max - 200 + k)]);
      for (const i of probes) {
        if (i >= 0) expect(re.test(String(i)), `${i} ≤ ${max}`).toBe(i >= 1 && i <= max);
      }
      expect(re.test(`0${max}`)).toBe(false);
    }
  });
});

describe('the CRDs', () => {
  const spec = (file: string) =>
    (CRDS[file] as any).spec.versions[0].schema.openAPIV3Schema.properties.spec.properties;

  it('take their field rules from the request schemas', () => {
    const rules = (s: any) =>
      JSON.parse(
        JSON.stringify({
          enum: s.enum,
          pattern: s.pattern,
          maxLength: s.maxLength,
          minimum: s.minimum,
          maximum: s.maximum,
        }),
      );
    const device = spec('device.yaml');
    const deviceCreate = DEVICE_CREATE_SCHEMA.properties as Record<string, any>;
    for (const field of ['mcuType', 'runtime', 'gateway']) {
      expect(rules(device[field]), field).toEqual(rules(deviceCreate[field]));
    }
    expect(rules(device.labels.additionalProperties)).toEqual(
      rules(deviceCreate.labels.additionalProperties),
    );
    const application = spec('application.yaml');
    const appCreate = APPLICATION_CREATE_SCHEMA.properties as Record<string, any>;
    expect(rules(application.entry)).toEqual(rules(appCreate.entry));
    expect(rules(application.target.properties.devices.items)).toEqual(
      rules(appCreate.target.properties.devices.items),
    );
    for (const group of ['strategy', 'limits'] as const) {
      for (const [field, schema] of Object.entries(appCreate[group].properties as Record<string, any>)) {
        expect(rules(application[group].properties[field]), `${group}.${field}`).toEqual(rules(schema));
      }
    }
  });

  it('are current on disk (npx tsx k8s/crds/generate.ts)', () => {
    for (const file of Object.keys(CRDS)) {
      expect(fs.readFileSync(path.join(REPO_ROOT, 'k8s', 'crds', file), 'utf8'), file).toBe(renderCrd(file));
    }
  });
});

describe('each naming rule is written once', () => {
  const sources = (dir: string): string[] =>
    fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) => {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) return sources(rel);
      return /\.(ts|mjs)$/.test(e.name) ? [rel] : [];
    });
  const files = [
    'common',
    'web',
    'services',
    'k8s',
    'device',
    'gateway',
    'runtimes',
    'controller',
    'cli',
    'workflows',
    'activities',
    'pki',
    'store',
    'platform',
  ].flatMap(sources);

  it('the DNS-label and loopback rules live only in common/', () => {
    expect(files.length).toBeGreaterThan(50);
    for (const file of files) {
      const text = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
      if (file !== path.join('common', 'names.ts')) {
        expect(text.includes('[a-z0-9]([-a-z0-9]*[a-z0-9])?'), `${file} spells out the DNS-label rule`).toBe(
          false,
        );
      }
      if (file !== path.join('common', 'config.ts')) {
        expect(/127\\\.|'127\.'|localhost\$|::1\$/.test(text), `${file} has its own loopback rule`).toBe(
          false,
        );
      }
    }
  });
});
