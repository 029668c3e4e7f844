/**
 * The web process's express app: REST API under /api/v1 and the HTMX dashboard.
 * Errors become JSON `{error: {code, message, field?}}` with the right status.
 */
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import express, { type NextFunction, type Request, type Response } from 'express';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  ValidationError,
  WasmbedError,
} from '../common/errors.js';
import type { ResourceStore } from '../store/resource-store.js';
import { dashboardPage, deviceRows, nameInput, type DashboardContext } from './dashboard.js';
import type { DeviceLogs } from '../store/device-logs.js';
import type { ApplicationService } from './application-service.js';
import type { DeviceService } from './device-service.js';

export interface WebAppOptions {
  devices: DeviceService;
  applications: ApplicationService;
  logs: DeviceLogs;
  store: ResourceStore;
  apiToken?: string;
  workflowUrl: (workflowId: string) => string;
  temporalUiUrl: string;
  health: () => Promise<Record<string, unknown>>;
}

const require = createRequire(import.meta.url);
const HTMX_PATH = require.resolve('htmx.org/dist/htmx.min.js');

function statusOf(err: unknown): number {
  if (err instanceof ValidationError) return 400;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof AlreadyExistsError || err instanceof ConflictError) return 409;
  if (err instanceof WasmbedError && err.code === 'TemporalUnavailable') return 503;
  return 500;
}

function errorBody(err: unknown) {
  const code = err instanceof WasmbedError ? err.code : 'Internal';
  const message = err instanceof Error ? err.message : String(err);
  return { error: { code, message, ...(err instanceof ValidationError ? { field: err.field } : {}) } };
}

function timingSafeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && crypto.timingSafeEqual(ab, bb);
}

export function createWebApp(options: WebAppOptions): express.Express {
  const app = express();
  const csrfToken = crypto.randomBytes(24).toString('hex');
  const ctx: DashboardContext = {
    csrfToken,
    workflowUrl: options.workflowUrl,
    temporalUiUrl: options.temporalUiUrl,
  };

  app.disable('x-powered-by');
  app.use(express.json({ limit: '4mb' })); // base64 modules
  app.use(express.urlencoded({ extended: false, limit: '64kb' }));

  app.get('/healthz', async (_req, res) => {
    res.json({ status: 'ok', ...(await options.health()) });
  });
  app.get('/assets/htmx.min.js', (_req, res) => res.sendFile(HTMX_PATH));

  // Beyond localhost every request needs the token (header, or a cookie set by /?token=).
  if (options.apiToken) {
    const token = options.apiToken;
    app.use((req, res, next) => {
      const bearer = req.headers.authorization?.replace(/^Bearer /, '');
      const cookie = /(?:^|;\s*)wasmbed_token=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
      const query = typeof req.query.token === 'string' ? req.query.token : undefined;
      const presented = bearer ?? (cookie ? decodeURIComponent(cookie) : undefined) ?? query;
      if (!presented || !timingSafeEqual(presented, token)) {
        res.status(401).json({ error: { code: 'Unauthorized', message: 'missing or wrong API token' } });
        return;
      }
      if (query) res.cookie('wasmbed_token', query, { httpOnly: true, sameSite: 'strict' });
      next();
    });
  }

  // API: cross-site pages cannot send JSON or DELETE without a CORS preflight, which we never grant.
  const api = express.Router();
  api.use((req, res, next) => {
    const allowed = req.is('application/json') || (req.path === '/modules' && req.is('application/wasm'));
    if (req.method === 'POST' && !allowed && req.headers['content-length'] !== '0') {
      res.status(415).json({ error: { code: 'UnsupportedMediaType', message: 'send application/json' } });
      return;
    }
    next();
  });
  api.get('/devices', (_req, res) => {
    res.json({ items: options.devices.list() });
  });
  api.post('/devices', async (req, res) => {
    res.status(202).json(await options.devices.create(req.body));
  });
  api.get('/devices/:name', (req, res) => {
    res.json(options.devices.get(req.params.name!));
  });
  api.delete('/devices/:name', async (req, res) => {
    res.status(202).json(await options.devices.delete(req.params.name!));
  });
  api.post('/devices/:name/retry', async (req, res) => {
    res.status(202).json(await options.devices.retry(req.params.name!));
  });
  api.get('/devices/:name/logs', (req, res) => {
    const name = req.params.name!;
    options.devices.get(name);
    const after = Number(req.query.after ?? 0);
    const appId = typeof req.query.app === 'string' ? req.query.app : undefined;
    res.json({ items: options.logs.list(name, { afterId: Number.isFinite(after) ? after : 0, appId }) });
  });
  api.post('/modules', express.raw({ type: 'application/wasm', limit: '2mb' }), (req, res) => {
    if (!Buffer.isBuffer(req.body)) throw new ValidationError('body', 'send the module as application/wasm');
    res.status(201).json(options.applications.uploadModule(req.body));
  });
  api.get('/applications', (_req, res) => {
    res.json({ items: options.applications.list() });
  });
  api.post('/applications', async (req, res) => {
    res.status(202).json(await options.applications.create(req.body));
  });
  api.get('/applications/:name', (req, res) => {
    res.json(options.applications.get(req.params.name!));
  });
  api.post('/applications/:name/promote', async (req, res) => {
    await options.applications.promote(req.params.name!);
    res.status(202).json({ name: req.params.name });
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
  api.get('/gateways', (_req, res) => {
    res.json({ items: options.store.list('Gateway') });
  });
  app.use('/api/v1', api);

  // Dashboard.
  app.get('/', (_req, res) => {
    res.type('html').send(dashboardPage(ctx, options.devices.list()));
  });
  const ui = express.Router();
  ui.use((req, res, next) => {
    if (req.method !== 'GET' && !timingSafeEqual(String(req.headers['x-csrf-token'] ?? ''), csrfToken)) {
      res.status(403).type('text').send('missing or wrong CSRF token');
      return;
    }
    next();
  });
  const rows = (res: Response, error?: string) =>
    res.type('html').send(deviceRows(ctx, options.devices.list(), error).value);
  const uiAction =
    (action: (req: Request) => Promise<unknown>, after?: () => string) =>
    async (req: Request, res: Response) => {
      try {
        await action(req);
        res.type('html').send(deviceRows(ctx, options.devices.list()).value + (after?.() ?? ''));
      } catch (err) {
        rows(res.status(statusOf(err) === 500 ? 500 : 200), err instanceof Error ? err.message : String(err));
      }
    };
  ui.get('/devices', (_req, res) => rows(res));
  ui.post(
    '/devices',
    uiAction(
      (req) => options.devices.create({ name: req.body.name, mcuType: req.body.mcuType || undefined }),
      () => nameInput(true).value, // a fresh suggestion, so the next click adds another device
    ),
  );
  ui.post(
    '/devices/:name/retry',
    uiAction((req) => options.devices.retry(req.params.name as string)),
  );
  ui.post(
    '/devices/:name/delete',
    uiAction((req) => options.devices.delete(req.params.name as string)),
  );
  app.use('/ui', ui);

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status =
      err instanceof SyntaxError ? 400 : (err as { status?: number }).status === 413 ? 413 : statusOf(err);
    res
      .status(status)
      .json(
        err instanceof SyntaxError
          ? { error: { code: 'InvalidJson', message: err.message } }
          : errorBody(err),
      );
  });
  return app;
}
