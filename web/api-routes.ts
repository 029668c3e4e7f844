/**
 * The REST API under /api/v1, described by /api/v1/openapi.json and validated against it.
 * Errors become JSON `{error: {code, message, field?}}` with the right status (web/http-errors.ts).
 */
import express, { type Request } from 'express';
import { NotFoundError, ValidationError } from '../common/errors.js';
import { readApplicationForm } from './application-form.js';
import { OPENAPI_DOCUMENT, hasBody, methodGuard, requestValidator } from './openapi.js';
import { pageOf } from '../store/list-query.js';
import { listQuery } from './list-params.js';
import type { WebContext } from './web-context.js';

/** Where an application may be sent as multipart/form-data (create and update). */
const APPLICATION_UPLOAD_PATH = /^\/applications(\/[^/]+)?\/?$/;

export function createApiRouter(web: WebContext): express.Router {
  const { options, store, timelines } = web;
  const api = express.Router();
  // Cross-site pages cannot send JSON or DELETE without a CORS preflight, which we never grant.
  // multipart/form-data is the exception (an application upload): a form on another site could
  // send one without a preflight, which the Origin / Sec-Fetch-Site check refuses (web/security.ts).
  const isApplicationUpload = (req: Request) =>
    APPLICATION_UPLOAD_PATH.test(req.path) && Boolean(req.is('multipart/form-data'));
  api.use(methodGuard());
  // A body must be of a type the operation takes; a bodiless POST (curl -X POST) is fine: an
  // operation that needs a body says so with a 400 from the validator.
  api.use((req, res, next) => {
    const allowed =
      req.is('application/json') ||
      (req.path === '/modules' && req.is('application/wasm')) ||
      isApplicationUpload(req);
    if ((req.method === 'POST' || req.method === 'PUT') && hasBody(req) && !allowed) {
      res.status(415).json({ error: { code: 'UnsupportedMediaType', message: 'send application/json' } });
      return;
    }
    next();
  });
  // An application sent as multipart/form-data becomes the JSON-shaped body before validation.
  api.use(async (req, _res, next) => {
    if ((req.method === 'POST' || req.method === 'PUT') && isApplicationUpload(req)) {
      req.body = await readApplicationForm(req);
    }
    next();
  });
  api.get('/openapi.json', (_req, res) => {
    res.json(OPENAPI_DOCUMENT);
  });
  api.use(requestValidator());
  api.get('/devices', async (req, res) => {
    res.json(await store.listPage('Device', listQuery(req.query)));
  });
  api.delete('/devices', async (req, res) => {
    const { limit: _limit, continue: _continue, ...filters } = listQuery(req.query);
    res.status(202).json(await options.devices.deleteMany(filters));
  });
  api.post('/device-batches', async (req, res) => {
    res.status(202).json(await web.deviceBatches.create(req.body));
  });
  api.get('/device-batches/:name', async (req, res) => {
    res.json(await web.deviceBatches.progress(req.params.name!));
  });
  api.post('/devices', async (req, res) => {
    res.status(202).json(await options.devices.create(req.body));
  });
  api.get('/devices/:name', async (req, res) => {
    res.json(await options.devices.get(req.params.name!));
  });
  api.delete('/devices/:name', async (req, res) => {
    res.status(202).json(await options.devices.delete(req.params.name!));
  });
  api.post('/devices/:name/retry', async (req, res) => {
    res.status(202).json(await options.devices.retry(req.params.name!));
  });
  api.post('/devices/:name/rotate-certificate', async (req, res) => {
    res.status(202).json(await options.devices.rotateCertificate(req.params.name!));
  });
  api.post('/devices/:name/restart', async (req, res) => {
    res.status(202).json(await options.devices.restart(req.params.name!));
  });
  api.get('/devices/:name/timeline', async (req, res) => {
    const device = await options.devices.get(req.params.name!);
    res.json(await timelines.get(device));
  });
  api.get('/devices/:name/logs', async (req, res) => {
    const name = req.params.name!;
    await options.devices.get(name);
    const after = Number(req.query.after ?? 0);
    const limit = req.query.limit === undefined ? undefined : Number(req.query.limit);
    const appId = typeof req.query.app === 'string' ? req.query.app : undefined;
    res.json({
      items: await options.logs.list(name, { afterId: Number.isFinite(after) ? after : 0, appId, limit }),
    });
  });
  api.post('/modules', express.raw({ type: 'application/wasm', limit: '2mb' }), async (req, res) => {
    if (!Buffer.isBuffer(req.body)) throw new ValidationError('body', 'send the module as application/wasm');
    res.status(201).json(await options.applications.uploadModule(req.body));
  });
  api.get('/applications', async (req, res) => {
    res.json(await store.listPage('Application', listQuery(req.query)));
  });
  api.post('/applications', async (req, res) => {
    res.status(202).json(await options.applications.create(req.body));
  });
  api.get('/applications/:name', async (req, res) => {
    res.json(await options.applications.get(req.params.name!));
  });
  api.post('/applications/:name/promote', async (req, res) => {
    await options.applications.promote(req.params.name!);
    res.status(202).json({ name: req.params.name });
  });
  api.put('/applications/:name', async (req, res) => {
    res.status(202).json(await options.applications.update(req.params.name!, req.body));
  });
  api.post('/applications/:name/abort', async (req, res) => {
    await options.applications.abort(req.params.name!);
    res.status(202).json({ name: req.params.name });
  });
  api.post('/applications/:name/stop', async (req, res) => {
    res.status(202).json(await options.applications.stop(req.params.name!));
  });
  api.delete('/applications/:name', async (req, res) => {
    res.status(202).json(await options.applications.delete(req.params.name!));
  });
  api.get('/gateways', async (req, res) => {
    res.json(await store.listPage('Gateway', listQuery(req.query)));
  });
  api.get('/health', (_req, res) => {
    res.json(web.health());
  });
  const enrollments = () => {
    if (!options.enrollments) throw new NotFoundError('feature', 'enrollment');
    return options.enrollments;
  };
  api.get('/pki/ca.pem', (_req, res) => {
    res.type('application/x-pem-file').send(enrollments().caPem);
  });
  api.get('/enrollment-tokens', async (req, res) => {
    res.json(
      pageOf(
        'enrollment-tokens',
        await enrollments().listCredentials(),
        listQuery(req.query),
        (c) => c.id,
        () => true, // no filters: the parameters are limit and continue
      ),
    );
  });
  api.post('/enrollment-tokens', async (req, res) => {
    res.status(201).json(await enrollments().createToken(req.body));
  });
  api.delete('/enrollment-tokens/:id', async (req, res) => {
    res.json(await enrollments().revokeCredential(req.params.id!));
  });
  api.post('/claim-certificates', async (req, res) => {
    res.status(201).json(await enrollments().createClaimCertificate(req.body));
  });
  api.get('/enrollments', async (req, res) => {
    res.json(
      pageOf(
        'enrollments',
        await enrollments().listPending(),
        listQuery(req.query),
        (e) => e.name,
        (e, q) => !q.namePrefix || e.name.startsWith(q.namePrefix),
      ),
    );
  });
  api.post('/enrollments/:name/approve', async (req, res) => {
    res.status(202).json(await enrollments().approve(req.params.name!));
  });
  api.post('/enrollments/:name/reject', async (req, res) => {
    res.status(202).json(await enrollments().reject(req.params.name!, req.body?.reason));
  });
  api.use((req, res) => {
    res
      .status(404)
      .json({ error: { code: 'NotFound', message: `no route ${req.method} /api/v1${req.path}` } });
  });
  return api;
}
