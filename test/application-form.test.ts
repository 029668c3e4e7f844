/**
 * Multipart application uploads (web/multipart.ts, web/application-form.ts) over a real HTTP
 * socket: a small express app with just the form reader, so each rule can be shown alone; the
 * whole platform path (upload → rollout → Running) is in test/applications.test.ts.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { statusOf } from '../web/http-errors.js';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readApplicationForm, APPLICATION_FORM_LIMITS } from '../web/application-form.js';
import { validateApplicationCreate } from '../common/validation.js';

let server: Server;
let url: string;

beforeAll(async () => {
  const app = express();
  app.post('/upload', async (req, res) => {
    res.json(await readApplicationForm(req));
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = statusOf(err); // as the API answers it (web/http-errors.ts)
    const field = (err as { field?: string }).field;
    res.status(status).json({ error: { message: (err as Error).message, field } });
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/upload`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

function form(fields: Record<string, string>, wasm: Uint8Array | null = MODULE): FormData {
  const fd = new FormData();
  if (wasm)
    fd.append('wasm', new Blob([wasm as unknown as BlobPart], { type: 'application/wasm' }), 'app.wasm');
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  return fd;
}

async function post(body: FormData | string | Uint8Array, contentType?: string) {
  const res = await fetch(url, {
    method: 'POST',
    body: body as BodyInit,
    headers: contentType ? { 'content-type': contentType } : {},
  });
  return { status: res.status, body: await res.json() };
}

describe('an application sent as multipart/form-data', () => {
  it('becomes the JSON body: the module as base64, simple fields as the objects they stand for', async () => {
    const res = await post(
      form({
        name: 'blinky',
        devices: 'dev-1, dev-2',
        strategy: 'Canary',
        canary: '1',
        pauseAfterCanary: 'on',
        failureThreshold: '0',
        maxUnavailable: '2',
        memoryPages: '2',
        env: '{"PIN":"3"}',
        args: '["a"]',
        selector: '', // an untouched form input counts as absent
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      wasm: Buffer.from(MODULE).toString('base64'),
      name: 'blinky',
      target: { devices: ['dev-1', 'dev-2'] },
      strategy: { type: 'Canary', maxUnavailable: 2, canary: 1, pauseAfterCanary: true, failureThreshold: 0 },
      limits: { memoryPages: 2 },
      env: { PIN: '3' },
      args: ['a'],
    });
  });

  it('takes target, strategy and limits as JSON too, and selector or all as fields', async () => {
    const json = await post(
      form({
        name: 'a',
        target: '{"selector":{"group":"lab"}}',
        strategy: '{"type":"Rolling","maxUnavailable":2}',
        limits: '{"memoryPages":1,"cpuMsPerCall":100}',
      }),
    );
    expect(json.body).toMatchObject({
      target: { selector: { group: 'lab' } },
      strategy: { type: 'Rolling', maxUnavailable: 2 },
      limits: { memoryPages: 1, cpuMsPerCall: 100 },
    });
    expect((await post(form({ name: 'a', selector: 'group=lab, site=b' }))).body.target).toEqual({
      selector: { group: 'lab', site: 'b' },
    });
    expect((await post(form({ name: 'a', all: 'true' }))).body.target).toEqual({ all: true });
    // A wave's size as a percentage goes on as text (the validation knows its spelling).
    const percent = await post(form({ name: 'a', all: 'true', maxUnavailable: '25%', canary: '10%' }));
    expect(percent.body.strategy).toEqual({ maxUnavailable: '25%', canary: '10%' });
    // Any other text too, refused by the validation with the message naming both spellings (the
    // form said "must be a non-negative integer", as if a percentage were not taken).
    const wrong = await post(form({ name: 'a', all: 'true', maxUnavailable: 'two' }));
    expect(wrong.body.strategy).toEqual({ maxUnavailable: 'two' });
    expect(() => validateApplicationCreate(wrong.body)).toThrow(
      /strategy\.maxUnavailable must be a non-negative integer or a percentage such as "25%", got "two"/,
    );
  });

  it('refuses what is wrong with a 400 naming the field', async () => {
    const cases: Array<[FormData, string, RegExp]> = [
      [form({ name: 'a', all: 'true' }, null), 'wasm', /missing: send it as a file part named "wasm"/],
      [form({ name: 'a', target: '{devices:' }), 'target', /target is not valid JSON/],
      [
        form({ name: 'a', devices: 'x', all: 'on' }),
        'target',
        /exactly one of devices, selector or all \(got devices, all\)/,
      ],
      [
        form({ name: 'a', target: '{"all":true}', devices: 'x' }),
        'target',
        /as JSON or as the fields devices, selector, all, not both/,
      ],
      [
        form({ name: 'a', all: 'true', failureThreshold: 'two' }),
        'strategy.failureThreshold',
        /non-negative integer, got "two"/,
      ],
      [form({ name: 'a', all: 'maybe' }), 'all', /all must be true or false/],
      [form({ name: 'a', selector: 'group' }), 'selector', /"group" is not key=value/],
      [
        form({ name: 'a', all: 'true', color: 'red' }),
        'color',
        /unknown form field "color"; expected wasm, name/,
      ],
    ];
    for (const [body, field, message] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error.field).toBe(field);
      expect(res.body.error.message).toMatch(message);
    }

    // A well-formed form whose module is empty: a content error, like any invalid module.
    const empty = await post(form({ name: 'a', all: 'true' }, new Uint8Array()));
    expect(empty.status).toBe(422);
    expect(empty.body.error).toMatchObject({
      field: 'wasm',
      message: expect.stringMatching(/"app.wasm" is empty/),
    });

    const twice = form({ name: 'a', all: 'true' });
    twice.append('name', 'b');
    expect((await post(twice)).body.error.message).toMatch(/form field "name" is given more than once/);

    const textWasm = new FormData();
    textWasm.append('wasm', 'AGFzbQEAAAA=');
    expect((await post(textWasm)).body.error).toMatchObject({
      field: 'wasm',
      message: expect.stringMatching(/must be a file part/),
    });

    const fileName = form({ all: 'true' });
    fileName.append('name', new Blob(['a']), 'name.txt');
    expect((await post(fileName)).body.error.message).toMatch(/"name" must be a text field, not a file/);
  });

  it('refuses a malformed body or a missing boundary', async () => {
    const truncated = new Request(url, { method: 'POST', body: form({ name: 'a', all: 'true' }) });
    const type = truncated.headers.get('content-type')!;
    const bytes = new Uint8Array(await truncated.arrayBuffer());
    const cut = await post(bytes.subarray(0, bytes.length - 20), type);
    expect(cut.status).toBe(400);
    expect(cut.body.error.message).toMatch(/malformed multipart\/form-data body/);

    const noBoundary = await post(bytes, 'multipart/form-data');
    expect(noBoundary.status).toBe(400);
    expect(noBoundary.body.error).toMatchObject({
      field: 'content-type',
      message: expect.stringMatching(/boundary/),
    });
  });

  it('refuses a body over the limit with 413, also when it arrives without a length', async () => {
    const big = new Uint8Array(APPLICATION_FORM_LIMITS.maxBodyBytes + 1);
    big.set(MODULE);
    const declared = await post(form({ name: 'a', all: 'true' }, big));
    expect(declared.status).toBe(413);
    expect(declared.body.error.message).toMatch(/request body is \d+ bytes; the limit is 1114112 bytes/);

    // Chunked (no Content-Length): refused once the bytes pass the limit.
    const request = new Request(url, { method: 'POST', body: form({ name: 'a', all: 'true' }, big) });
    const type = request.headers.get('content-type')!;
    const payload = new Uint8Array(await request.arrayBuffer());
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < payload.length; i += 64 * 1024)
          controller.enqueue(payload.subarray(i, i + 64 * 1024));
        controller.close();
      },
    });
    const res = await fetch(url, {
      method: 'POST',
      body: stream,
      headers: { 'content-type': type },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect((await res.json()).error.message).toMatch(
      /request body is at least \d+ bytes; the limit is 1114112/,
    );
  });
});
