/**
 * The OpenAPI document of /api/v1 against a real platform: it is served, it describes every
 * route the server answers, requests that break it are refused with a 400 naming the field,
 * and the server's responses conform to the schemas it declares.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST_DIR, buildApps } from '../scripts/build-apps.mjs';
import { DNS_LABEL_MESSAGE } from '../common/names.js';
import { LIST_FILTER_PARAMS, MAX_LIST_LIMIT } from '../store/list-query.js';
import { compileSchema, createAjv, OPENAPI_DOCUMENT, queryParametersOf } from '../web/openapi.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;
const ajv = createAjv();

beforeAll(async () => {
  await buildApps({ log: () => {} });
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform?.stop();
});

type Paths = Record<
  string,
  Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>
>;

/** Calls the API and checks the response against the document's schema for that status. */
async function call(method: string, template: string, params: Record<string, string> = {}, body?: unknown) {
  const pathname = template.replace(/\{(\w+)\}/g, (_m, p: string) => encodeURIComponent(params[p]!));
  const res = await platform.api(method, `/api/v1${pathname}`, body);
  const op = (OPENAPI_DOCUMENT.paths as unknown as Paths)[template.split('?')[0]!]![method.toLowerCase()]!;
  const declared = op.responses[String(res.status)];
  expect(
    declared,
    `${method} ${template} answered ${res.status}, which the document does not declare`,
  ).toBeDefined();
  const schema = declared!.content?.['application/json']?.schema;
  if (schema) {
    const validate = compileSchema(ajv, schema);
    const ok = validate(res.body);
    expect(ok, `${method} ${template} ${res.status}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  }
  return res;
}

describe('the OpenAPI document', () => {
  it('is served, is OpenAPI 3.1 and compiles', async () => {
    const res = await platform.api('GET', '/api/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining(['/devices', '/devices/{name}', '/applications', '/gateways']),
    );
    for (const name of Object.keys(OPENAPI_DOCUMENT.components.schemas)) {
      expect(() => compileSchema(ajv, { $ref: `#/components/schemas/${name}` }), name).not.toThrow();
    }
  });

  it('refuses requests that break it with a 400 naming the field, before anything starts', async () => {
    const cases: [unknown, string][] = [
      [{ name: 'x', mcuType: 'Esp32' }, 'mcuType'],
      [{ name: 'Bad_Name' }, 'name'],
      [{ name: 'x', labels: { a: 1 } }, 'labels.a'],
      [{ mcuType: 'Stm32F746gDisco' }, 'name'],
      [[1, 2], 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await call('POST', '/devices', {}, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'InvalidInput', field });
    }
    const app = await call(
      'POST',
      '/applications',
      {},
      { name: 'a', module: 'AAAA', target: { devices: [7] } },
    );
    expect(app.body.error.field).toBe('target.devices[0]');
    // A multipart upload is checked against the same schema once its fields are read.
    const hello = fs.readFileSync(path.join(DIST_DIR, 'hello.wasm'));
    const upload = async (fields: Record<string, string>) => {
      const form = new FormData();
      form.append('wasm', new Blob([hello as unknown as BlobPart]), 'hello.wasm');
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      const res = await fetch(`${platform.webUrl}/api/v1/applications`, { method: 'POST', body: form });
      return { status: res.status, body: await res.json() };
    };
    const documented = (
      OPENAPI_DOCUMENT.paths['/applications'].post.requestBody.content as Record<string, unknown>
    )['multipart/form-data'];
    expect(documented).toBeDefined();
    const errorSchema = compileSchema(ajv, { $ref: '#/components/schemas/Error' });
    for (const [fields, field] of [
      [{ name: 'Bad_Name', all: 'true' }, 'name'],
      [{ name: 'a', all: 'true', strategy: '{"type":"Sideways"}' }, 'strategy.type'],
      [{ name: 'a', all: 'true', limits: '{"memoryPages":0}' }, 'limits.memoryPages'],
    ] as const) {
      const res = await upload(fields);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'InvalidInput', field });
      expect(errorSchema(res.body)).toBe(true);
    }
    const logs = await platform.api('GET', '/api/v1/devices/none/logs?after=-1');
    expect(logs.status).toBe(400);
    expect(logs.body.error.field).toBe('after');
    // A log's `app` is an application name, and its `limit` has the lists' bounds.
    const badApp = await call('GET', '/devices/{name}/logs?app=Bad_App', { name: 'none' });
    expect(badApp.status).toBe(400);
    expect(badApp.body.error).toMatchObject({
      code: 'InvalidInput',
      field: 'app',
      message: `app "Bad_App" ${DNS_LABEL_MESSAGE}`,
    });
    const tooMany = await call('GET', `/devices/{name}/logs?limit=${MAX_LIST_LIMIT + 1}`, { name: 'none' });
    expect([tooMany.status, tooMany.body.error.field]).toEqual([400, 'limit']);
    // Rules the schema states since the fuzzer found requests it allowed and the API refused.
    for (const [body, field] of [
      [{ name: 'x', target: {}, wasm: 'AGFzbQEAAAA=' }, 'target'],
      [{ name: 'x', target: { all: true } }, 'wasm'],
      [{ name: 'x', target: { all: true }, wasm: 'AGFzbQEAAAA=', colour: 'red' }, 'colour'],
    ] as const) {
      const res = await call('POST', '/applications', {}, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.field).toBe(field);
    }
    for (const [body, field] of [
      [{ name: 'x', extra: 1 }, 'extra'],
      [{ name: 'x', runtime: 'qemu' }, 'mcuType'],
      [{ name: 'x', runtime: 'docker', mcuType: 'Nrf52840DK' }, 'mcuType'],
    ] as const) {
      const res = await call('POST', '/devices', {}, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.field).toBe(field);
    }
    const ttl = await call('POST', '/enrollment-tokens', {}, { ttl: 23485219 });
    expect(ttl.status).toBe(400);
    expect(ttl.body.error).toMatchObject({ field: 'ttl', message: expect.stringMatching(/at most 30 days/) });
    const phase = await call('GET', '/devices?phase=Sleeping');
    expect(phase.status).toBe(400);
    expect(phase.body.error.message).toMatch(/phase "Sleeping" is unknown/);
    // A field required only with another's value says with which.
    expect((await call('POST', '/devices', {}, { name: 'x', runtime: 'qemu' })).body.error.message).toBe(
      'mcuType is required with runtime "qemu" (boards that work: Mps2An385)',
    );
    expect((await call('POST', '/devices', {}, { name: 'x', runtime: 'external' })).body.error.message).toBe(
      'enrollment is required with runtime "external": a real board enrolls itself ("enrollment": "preauthorized")',
    );
    const runtime = await call('POST', '/devices', {}, { name: 'x', runtime: 'vmware' });
    expect(runtime.body.error.message).toBe(
      'runtime "vmware" must be virtual (the default), docker, qemu or renode; external for a real board, which needs enrollment',
    );
    expect((await platform.api('GET', '/api/v1/devices')).body.items).toEqual([]);
  });

  it('answers with responses that conform to the document', async () => {
    expect((await call('POST', '/devices', {}, { name: 'oa-1', labels: { group: 'oa' } })).status).toBe(202);
    expect((await call('POST', '/devices', {}, { name: 'oa-1' })).status).toBe(409);
    await waitFor(
      'oa-1 Connected',
      async () => (await call('GET', '/devices/{name}', { name: 'oa-1' })).body.status.phase === 'Connected',
    );
    await call('GET', '/devices');
    await call('GET', '/devices?labelSelector=group%3Doa');
    const firstPage = await call('GET', '/devices?limit=1');
    expect(firstPage.body.items).toHaveLength(1);
    const batch = await call('POST', '/device-batches', {}, { name: 'oa-batch', count: 1, prefix: 'oab' });
    expect(batch.status).toBe(202);
    await call('GET', '/device-batches/{name}', { name: 'oa-batch' });
    expect((await call('POST', '/device-batches', {}, { count: 1, prefix: 'oa', devices: [] })).status).toBe(
      400,
    );
    await call('GET', '/devices/{name}', { name: 'missing' });
    const timeline = await call('GET', '/devices/{name}/timeline', { name: 'oa-1' });
    expect(timeline.body.source).toBe('history');
    expect(timeline.body.steps.map((s: any) => s.state)).toEqual(Array(7).fill('Succeeded'));
    expect((await call('POST', '/devices/{name}/retry', { name: 'oa-1' })).status).toBe(409);
    await call('GET', '/gateways');
    await call('GET', '/health');

    const wasm = fs.readFileSync(path.join(DIST_DIR, 'hello.wasm')).toString('base64');
    expect(
      (
        await call(
          'POST',
          '/applications',
          {},
          { name: 'oa-app', module: wasm, target: { devices: ['oa-1'] } },
        )
      ).status,
    ).toBe(202);
    await waitFor('oa-app settled', async () => {
      const a = await call('GET', '/applications/{name}', { name: 'oa-app' });
      return a.body.status.phase === 'Running';
    });
    await call('GET', '/applications');
    await waitFor(
      'hello output',
      async () => (await call('GET', '/devices/{name}/logs', { name: 'oa-1' })).body.items.length > 0,
    );
    expect((await call('DELETE', '/applications/{name}', { name: 'oa-app' })).status).toBe(202);
    expect((await call('POST', '/devices/{name}/restart', { name: 'oa-1' })).status).toBe(202);
    expect((await call('DELETE', '/devices/{name}', { name: 'oa-1' })).status).toBe(202);
    expect((await call('DELETE', '/devices/{name}', { name: 'never-was' })).status).toBe(404);
  });

  it('answers the enrollment routes as documented', async () => {
    const token = await call('POST', '/enrollment-tokens', {}, { name: 'oa-board', ttl: '1h' });
    expect(token.status).toBe(201);
    expect((await call('POST', '/enrollment-tokens', {}, { ttl: '90d' })).body.error.field).toBe('ttl');
    expect((await call('POST', '/enrollment-tokens', {}, { name: 'Bad_Name' })).body.error.field).toBe(
      'name',
    );
    expect((await call('POST', '/claim-certificates', {}, { name: 'oa-claim', ttl: 3600 })).status).toBe(201);
    expect((await call('POST', '/claim-certificates', {}, {})).status).toBe(400);
    expect((await call('GET', '/enrollment-tokens')).body.items).toHaveLength(2);
    expect((await call('DELETE', '/enrollment-tokens/{id}', { id: token.body.id })).body.state).toBe(
      'Revoked',
    );
    expect((await call('DELETE', '/enrollment-tokens/{id}', { id: 'tok-none' })).status).toBe(404);
    expect((await call('GET', '/enrollments')).body.items).toEqual([]);
    expect((await call('POST', '/enrollments/{name}/approve', { name: 'nobody' })).status).toBe(404);
    expect(
      (await call('POST', '/enrollments/{name}/reject', { name: 'nobody' }, { reason: 'x' })).status,
    ).toBe(404);
    const created = await call('POST', '/devices', {}, { name: 'oa-pre', enrollment: 'preauthorized' });
    expect(created.status).toBe(202);
    // Pre-registered, not waiting for an operator: nothing to approve.
    expect((await call('POST', '/enrollments/{name}/approve', { name: 'oa-pre' })).status).toBe(409);
    expect(
      (await call('POST', '/devices', {}, { name: 'oa-ext', runtime: 'external' })).body.error.field,
    ).toBe('enrollment');
    const ca = await fetch(`${platform.webUrl}/api/v1/pki/ca.pem`);
    expect(ca.status).toBe(200);
    expect(await ca.text()).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it('takes bodiless POSTs where no body is needed, and answers undeclared methods 405 with Allow', async () => {
    // curl -X POST sends neither a body nor a Content-Length.
    const bodiless = async (pathname: string) => {
      const res = await fetch(`${platform.webUrl}/api/v1${pathname}`, { method: 'POST' });
      return { status: res.status, body: await res.json() };
    };
    expect((await bodiless('/enrollments/nobody/approve')).status).toBe(404);
    expect((await bodiless('/devices/nobody/retry')).status).toBe(404);
    expect((await bodiless('/applications/nobody/promote')).status).toBe(404);
    expect((await bodiless('/enrollment-tokens')).status).toBe(201);
    const noBody = await bodiless('/devices');
    expect(noBody.status).toBe(400);
    expect(noBody.body.error.field).toBe('body');
    // A body of a type the operation does not take is still refused.
    const text = await fetch(`${platform.webUrl}/api/v1/devices`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'name=x',
    });
    expect(text.status).toBe(415);
    for (const [method, pathname, allow] of [
      ['TRACE', '/devices', 'GET, POST, DELETE, HEAD, OPTIONS'],
      ['PATCH', '/devices/x', 'GET, DELETE, HEAD, OPTIONS'],
      ['PUT', '/enrollments/x/approve', 'POST, OPTIONS'],
      ['DELETE', '/openapi.json', 'GET, HEAD, OPTIONS'],
    ] as const) {
      // node:http, not fetch: fetch refuses to send TRACE at all.
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.request(`${platform.webUrl}/api/v1${pathname}`, { method }, resolve).on('error', reject).end();
      });
      res.resume();
      expect(res.statusCode, `${method} ${pathname}`).toBe(405);
      expect(res.headers.allow).toBe(allow);
    }
    const options = await fetch(`${platform.webUrl}/api/v1/devices`, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('GET, POST, DELETE, HEAD, OPTIONS');
  });

  it('documents every route the API answers', async () => {
    const documented = Object.keys(OPENAPI_DOCUMENT.paths).length;
    const router = fs.readFileSync(path.join(import.meta.dirname, '..', 'web', 'api-routes.ts'), 'utf8');
    const routes = [...router.matchAll(/api\.(get|post|delete|put|patch)\('([^']+)'/g)].map(
      ([, m, p]) => `${m} ${p!.replace(/:(\w+)/g, '{$1}')}`,
    );
    const operations = Object.values(OPENAPI_DOCUMENT.paths).flatMap((item) =>
      Object.keys(item).filter((k) => k !== 'parameters'),
    );
    expect(routes.length).toBe(operations.length); // and each route is documented:
    for (const route of routes) {
      const [method, p] = route.split(' ');
      expect(
        (OPENAPI_DOCUMENT.paths as unknown as Paths)[p!]?.[method!],
        `${route} is not in the document`,
      ).toBeDefined();
    }
    expect(documented).toBeGreaterThanOrEqual(12);
  });

  it('refuses a query parameter an operation does not declare, naming it and the ones it takes', async () => {
    // A misspelt filter answered the whole list as if it was not there.
    const typo = await call('GET', '/devices?labelselector=group%3Dlab');
    expect(typo.status).toBe(400);
    expect(typo.body.error).toEqual({
      code: 'InvalidInput',
      field: 'labelselector',
      message: `GET /api/v1/devices has no query parameter "labelselector"; it takes limit, continue, ${LIST_FILTER_PARAMS.join(', ')}`,
    });
    // Another list's filters: the applications list has no mcuType or runtime.
    const other = await call('GET', '/applications?mcuType=Stm32F746gDisco&runtime=virtual&phase=Running');
    expect(other.status).toBe(400);
    expect(other.body.error.message).toBe(
      'GET /api/v1/applications has no query parameters "mcuType", "runtime"; it takes limit, continue, phase, labelSelector, namePrefix',
    );
    const tokens = await call('GET', '/enrollment-tokens?namePrefix=a');
    expect(tokens.body.error.message).toBe(
      'GET /api/v1/enrollment-tokens has no query parameter "namePrefix"; it takes limit, continue',
    );
    expect((await call('GET', '/devices/{name}/logs?follow=1', { name: 'oq-1' })).body.error.field).toBe(
      'follow',
    );
    // A delete of many with a misspelt filter beside a good one deleted all the good one selected.
    expect((await call('POST', '/devices', {}, { name: 'oq-1' })).status).toBe(202);
    const names = async () =>
      (await call('GET', '/devices')).body.items.map((d: { metadata: { name: string } }) => d.metadata.name);
    const before = await names();
    expect(before).toContain('oq-1');
    const deleted = await call('DELETE', '/devices?namePrefix=oq-&labelselector=keep%3Dme');
    expect([deleted.status, deleted.body.error.field]).toEqual([400, 'labelselector']);
    expect(await names()).toEqual(before);
    // The device list declares every filter lists read, and limit and continue: nothing else.
    const declared = (OPENAPI_DOCUMENT.paths['/devices'].get.parameters as { name: string }[]).map(
      (p) => p.name,
    );
    expect(declared).toEqual(['limit', 'continue', ...LIST_FILTER_PARAMS]);
  });

  it('validates a query parameter declared on a path for all its operations, as its own ones', () => {
    // None is declared so today; one added must not go unchecked (and refused as unknown).
    const path = [
      { name: 'name', in: 'path', schema: { type: 'string' } },
      { name: 'limit', in: 'query', schema: { type: 'integer' } },
      { name: 'app', in: 'query', schema: { type: 'string' } },
    ];
    const own = [{ name: 'app', in: 'query', schema: { type: 'integer' } }];
    expect(queryParametersOf(path, own)).toEqual([path[1], own[0]]);
    expect(queryParametersOf(path, undefined)).toEqual([path[1], path[2]]);
    expect(queryParametersOf(undefined, own)).toEqual(own);
  });

  it("answers a query past the parser's 16 KiB with a JSON 431, as the document says", async () => {
    const res = await fetch(`${platform.webUrl}/api/v1/devices?namePrefix=${'a'.repeat(20_000)}`);
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({
      error: { code: 'RequestTooLarge', message: expect.stringMatching(/16 KiB/) },
    });
    const op = (OPENAPI_DOCUMENT.paths as unknown as Paths)['/devices']!.get!;
    expect(Object.keys(op.responses)).toContain('431');
    // The server goes on answering.
    expect((await platform.api('GET', '/api/v1/devices')).status).toBe(200);
  });
});
