/**
 * The web process's express app: REST API under /api/v1 (described by /api/v1/openapi.json
 * and validated against it) and the HTMX dashboard with live updates over server-sent events.
 * Errors become JSON `{error: {code, message, field?}}` with the right status.
 *
 * Safety: beyond localhost every request needs the API token; every state-changing request
 * must come from this origin (Origin / Sec-Fetch-Site), and dashboard actions under /ui also
 * need the page's CSRF token header; every user string is escaped by web/html.ts, and the
 * Content-Security-Policy forbids inline script.
 */
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import type { Client } from '@temporalio/client';
import express, { type NextFunction, type Request, type Response } from 'express';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  TooLargeError,
  ValidationError,
  WasmbedError,
} from '../common/errors.js';
import type { Application, Device } from '../common/resources.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { DeviceLogs } from '../store/device-logs.js';
import { readApplicationForm } from './application-form.js';
import type { ApplicationService } from './application-service.js';
import { CLIENT_JS } from './client-script.js';
import {
  bulkProgress,
  devicesPage,
  deviceRows,
  deviceRowsKeyed,
  filterDevices,
  filterQuery,
  nameInput,
  type BulkJob,
  type DashboardContext,
  type DeviceFilter,
} from './dashboard.js';
import type { DeviceService } from './device-service.js';
import type { EnrollmentService } from './enrollment-service.js';
import { mountEnrollmentPages } from './enrollments-page.js';
import type { HealthMonitor, HealthSnapshot } from './health.js';
import { escapeHtml } from './html.js';
import { LiveHub, sseEvent } from './live.js';
import { OPENAPI_DOCUMENT, requestValidator } from './openapi.js';
import { applicationRows, applicationsPage, deployResult } from './applications-page.js';
import {
  deviceFragments,
  devicePage,
  gatewayRows,
  gatewaysPage,
  overviewFragments,
  overviewPage,
  recentDevices,
  topologyPage,
  topologySvg,
  type RecentFailure,
} from './pages.js';
import { TimelineCache } from './timeline.js';

export interface WebAppOptions {
  devices: DeviceService;
  applications: ApplicationService;
  logs: DeviceLogs;
  store: ResourceStore;
  apiToken?: string;
  workflowUrl: (workflowId: string) => string;
  temporalUiUrl: string;
  health: () => Promise<Record<string, unknown>>;
  /** Temporal client for step timelines and recent failed workflows (optional in benchmarks). */
  client?: Client;
  /** Health of every process for the overview; without it the overview says "checking". */
  healthMonitor?: HealthMonitor;
  /** How often live views look at the store's revision (default 200 ms). */
  liveIntervalMs?: number;
  /** Claim-based enrollment (API, dashboard page); absent in benchmarks that do not need it. */
  enrollments?: EnrollmentService;
}

export interface WebApp extends express.Express {
  live: LiveHub;
  /** Renders the devices page as GET /devices would (benchmarks). */
  renderDevicesPage(filter?: DeviceFilter): string;
  shutdown(): void;
}

const require = createRequire(import.meta.url);
const HTMX_PATH = require.resolve('htmx.org/dist/htmx.min.js');

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

function statusOf(err: unknown): number {
  if (err instanceof ValidationError) return 400;
  if (err instanceof TooLargeError) return 413;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof AlreadyExistsError || err instanceof ConflictError) return 409;
  if (err instanceof WasmbedError && err.code === 'TemporalUnavailable') return 503;
  return 500;
}

function errorBody(err: unknown) {
  const code = err instanceof WasmbedError ? err.code : 'Internal';
  const message = err instanceof Error ? err.message : String(err);
  const field = err instanceof ValidationError || err instanceof TooLargeError ? { field: err.field } : {};
  return { error: { code, message, ...field } };
}

function timingSafeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && crypto.timingSafeEqual(ab, bb);
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A browser sends Origin (and Sec-Fetch-Site) with every cross-origin POST: refuse those. */
function crossSite(req: Request): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return `Sec-Fetch-Site: ${site}`;
  const origin = req.headers.origin;
  if (origin === undefined) return undefined; // not a browser (curl, the CLI): CSRF does not apply
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return `Origin: ${origin}`;
  }
  return host === req.headers.host ? undefined : `Origin: ${origin}`;
}

/** `group=lab, site=a` → {group: 'lab', site: 'a'} */
export function parseLabels(text: unknown): Record<string, string> | undefined {
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  const labels: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ValidationError('labels', `labels: "${part.trim()}" is not key=value`);
    labels[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return labels;
}

function deviceFilter(query: Request['query']): DeviceFilter {
  const pick = (k: string) => (typeof query[k] === 'string' && query[k] ? (query[k] as string) : undefined);
  return { phase: pick('phase'), label: pick('label'), gateway: pick('gateway') };
}

const EMPTY_HEALTH: HealthSnapshot = { checkedAt: null, processes: [] };
/** Where an application may be sent as multipart/form-data (create and update). */
const APPLICATION_UPLOAD_PATH = /^\/applications(\/[^/]+)?\/?$/;

export function createWebApp(options: WebAppOptions): WebApp {
  const app = express() as unknown as WebApp;
  const csrfToken = crypto.randomBytes(24).toString('hex');
  const ctx: DashboardContext = {
    csrfToken,
    workflowUrl: options.workflowUrl,
    temporalUiUrl: options.temporalUiUrl,
  };
  const { store } = options;
  const health = () => options.healthMonitor?.snapshot() ?? EMPTY_HEALTH;
  const live = new LiveHub(store, {
    intervalMs: options.liveIntervalMs,
    extraVersion: () => options.healthMonitor?.version ?? 0,
  }).start();
  const timelines = new TimelineCache(options.client);
  const bulkJobs: BulkJob[] = [];
  const counters = { requests: 0, errors: 0 };

  // Failed workflows from Temporal's visibility store, cached: the overview re-renders often.
  let failedWorkflows: { at: number; items: RecentFailure[] } = { at: 0, items: [] };
  let failedLoading = false;
  const refreshFailedWorkflows = () => {
    const client = options.client;
    if (!client || failedLoading || Date.now() - failedWorkflows.at < 5000) return;
    failedLoading = true;
    void (async () => {
      const items: RecentFailure[] = [];
      try {
        for await (const wf of client.workflow.list({ query: 'ExecutionStatus = "Failed"', pageSize: 10 })) {
          items.push({
            kind: 'Workflow',
            name: wf.workflowId,
            message: `${wf.type} failed`,
            href: options.workflowUrl(wf.workflowId),
            external: true,
            time: wf.closeTime?.toISOString(),
          });
          if (items.length >= 10) break;
        }
      } catch {
        // Temporal unreachable: the health table says so
      }
      failedWorkflows = { at: Date.now(), items };
      failedLoading = false;
    })();
  };
  const recentFailures = (devices: Device[], apps: Application[]): RecentFailure[] => {
    refreshFailedWorkflows();
    const list: RecentFailure[] = [
      ...devices
        .filter((d) => d.status.phase === 'Failed')
        .map((d) => ({
          kind: 'Device' as const,
          name: d.metadata.name,
          message: d.status.message ?? 'Failed',
          href: `/devices/${encodeURIComponent(d.metadata.name)}`,
        })),
      ...apps
        .filter((a) => a.status.phase === 'Failed' || a.status.phase === 'RolledBack')
        .map((a) => ({
          kind: 'Application' as const,
          name: a.metadata.name,
          message: a.status.message ?? a.status.phase,
          href: `/applications#app-${a.metadata.name}`,
        })),
    ];
    const shown = new Set(list.map((f) => f.name));
    for (const wf of failedWorkflows.items) {
      if (!shown.has(wf.name.replace(/^[a-z]+-/, ''))) list.push(wf);
    }
    return list.slice(0, 20);
  };

  app.disable('x-powered-by');
  app.use((req, res, next) => {
    counters.requests++;
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'same-origin');
    if (req.method === 'GET' && !req.path.startsWith('/api/')) {
      res.setHeader('content-security-policy', CSP);
      res.setHeader('x-frame-options', 'DENY');
    }
    next();
  });
  app.use(express.json({ limit: '4mb' })); // base64 modules
  app.use(express.urlencoded({ extended: false, limit: '64kb' }));

  app.get('/healthz', async (_req, res) => {
    res.json({ status: 'ok', ...(await options.health()) });
  });
  app.get('/assets/htmx.min.js', (_req, res) => {
    res.setHeader('cache-control', 'public, max-age=3600');
    res.sendFile(HTMX_PATH);
  });
  app.get('/favicon.ico', (_req, res) => {
    res.status(204).end();
  });
  app.get('/assets/wasmbed.js', (_req, res) => {
    res.type('application/javascript').setHeader('cache-control', 'no-cache');
    res.send(CLIENT_JS);
  });

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

  // CSRF, first line: no state-changing request from another site, API or dashboard alike.
  app.use((req, res, next) => {
    if (!STATE_CHANGING.has(req.method)) return next();
    const why = crossSite(req);
    if (why) {
      res
        .status(403)
        .json({ error: { code: 'CrossSiteRequest', message: `cross-site request refused (${why})` } });
      return;
    }
    next();
  });

  app.get('/metrics', (_req, res) => {
    const devices = store.list('Device');
    const byPhase = new Map<string, number>();
    for (const d of devices) byPhase.set(d.status.phase, (byPhase.get(d.status.phase) ?? 0) + 1);
    const lines = [
      '# HELP wasmbed_web_requests_total HTTP requests served',
      '# TYPE wasmbed_web_requests_total counter',
      `wasmbed_web_requests_total ${counters.requests}`,
      '# TYPE wasmbed_web_errors_total counter',
      `wasmbed_web_errors_total ${counters.errors}`,
      '# HELP wasmbed_web_sse_clients open server-sent-event streams',
      '# TYPE wasmbed_web_sse_clients gauge',
      `wasmbed_web_sse_clients ${live.stats.clients}`,
      '# TYPE wasmbed_web_sse_events_total counter',
      `wasmbed_web_sse_events_total ${live.stats.eventsSent}`,
      '# TYPE wasmbed_web_live_renders_total counter',
      `wasmbed_web_live_renders_total ${live.stats.renders}`,
      '# TYPE wasmbed_web_live_render_ms gauge',
      ...Object.entries(live.stats.lastRenderMs).map(
        ([view, ms]) => `wasmbed_web_live_render_ms{view="${view}"} ${ms}`,
      ),
      '# HELP wasmbed_devices devices by phase',
      '# TYPE wasmbed_devices gauge',
      ...[...byPhase].map(([phase, n]) => `wasmbed_devices{phase="${phase}"} ${n}`),
      '# TYPE process_resident_memory_bytes gauge',
      `process_resident_memory_bytes ${process.memoryUsage().rss}`,
      '# TYPE process_uptime_seconds gauge',
      `process_uptime_seconds ${Math.round(process.uptime())}`,
      ...health().processes.map(
        (p) => `wasmbed_process_up{process="${p.name}",kind="${p.kind}"} ${p.status === 'ok' ? 1 : 0}`,
      ),
    ];
    res.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n');
  });

  // ---- REST API -------------------------------------------------------------------------
  const api = express.Router();
  // Cross-site pages cannot send JSON or DELETE without a CORS preflight, which we never grant.
  // multipart/form-data is the exception (an application upload): a form on another site could
  // send one without a preflight, which the Origin / Sec-Fetch-Site check above refuses.
  const isApplicationUpload = (req: Request) =>
    APPLICATION_UPLOAD_PATH.test(req.path) && Boolean(req.is('multipart/form-data'));
  api.use((req, res, next) => {
    const allowed =
      req.is('application/json') ||
      (req.path === '/modules' && req.is('application/wasm')) ||
      isApplicationUpload(req);
    if (req.method === 'POST' && !allowed && req.headers['content-length'] !== '0') {
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
  api.get('/devices', (req, res) => {
    const filter = deviceFilter(req.query);
    res.json({ items: filterDevices(options.devices.list(), filter) });
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
  api.post('/devices/:name/rotate-certificate', async (req, res) => {
    res.status(202).json(await options.devices.rotateCertificate(req.params.name!));
  });
  api.post('/devices/:name/restart', async (req, res) => {
    res.status(202).json(await options.devices.restart(req.params.name!));
  });
  api.get('/devices/:name/timeline', async (req, res) => {
    const device = options.devices.get(req.params.name!);
    res.json(await timelines.get(device));
  });
  api.get('/devices/:name/logs', (req, res) => {
    const name = req.params.name!;
    options.devices.get(name);
    const after = Number(req.query.after ?? 0);
    const limit = req.query.limit === undefined ? undefined : Number(req.query.limit);
    const appId = typeof req.query.app === 'string' ? req.query.app : undefined;
    res.json({
      items: options.logs.list(name, { afterId: Number.isFinite(after) ? after : 0, appId, limit }),
    });
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
  api.get('/gateways', (_req, res) => {
    res.json({ items: store.list('Gateway') });
  });
  api.get('/health', (_req, res) => {
    res.json(health());
  });
  const enrollments = () => {
    if (!options.enrollments) throw new NotFoundError('feature', 'enrollment');
    return options.enrollments;
  };
  api.get('/pki/ca.pem', (_req, res) => {
    res.type('application/x-pem-file').send(enrollments().caPem);
  });
  api.get('/enrollment-tokens', (_req, res) => {
    res.json({ items: enrollments().listCredentials() });
  });
  api.post('/enrollment-tokens', (req, res) => {
    res.status(201).json(enrollments().createToken(req.body));
  });
  api.delete('/enrollment-tokens/:id', (req, res) => {
    res.json(enrollments().revokeCredential(req.params.id!));
  });
  api.post('/claim-certificates', (req, res) => {
    res.status(201).json(enrollments().createClaimCertificate(req.body));
  });
  api.get('/enrollments', (_req, res) => {
    res.json({ items: enrollments().listPending() });
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
  app.use('/api/v1', api);

  // ---- dashboard pages ------------------------------------------------------------------
  const activeJobs = () => {
    const cutoff = Date.now() - 10 * 60_000;
    for (let i = bulkJobs.length - 1; i >= 0; i--) {
      if ((bulkJobs[i]!.finishedAt ?? Infinity) < cutoff) bulkJobs.splice(i, 1);
    }
    return bulkJobs;
  };
  const renderDevicesPage = (filter: DeviceFilter = {}) =>
    devicesPage(ctx, store.list('Device'), store.list('Gateway'), filter, activeJobs());
  app.renderDevicesPage = renderDevicesPage;

  app.get('/', (_req, res) => {
    const devices = store.list('Device');
    res
      .type('html')
      .send(overviewPage(ctx, devices, health(), recentFailures(devices, store.list('Application'))));
  });
  app.get('/devices', (req, res) => {
    res.type('html').send(renderDevicesPage(deviceFilter(req.query)));
  });
  app.get('/devices/:name', async (req, res) => {
    const device = store.get('Device', req.params.name!);
    if (!device) {
      res
        .status(404)
        .type('html')
        .send(`<!doctype html><title>Not found</title><p>No such device. <a href="/devices">Devices</a></p>`);
      return;
    }
    const timeline = await timelines.get(device);
    const logs = options.logs.list(device.metadata.name, { limit: 200 });
    res.type('html').send(devicePage(ctx, device, timeline, store.list('Application'), logs));
  });
  app.get('/topology', (_req, res) => {
    res.type('html').send(topologyPage(ctx, store.list('Gateway'), store.list('Device')));
  });
  app.get('/gateways', (_req, res) => {
    res.type('html').send(gatewaysPage(ctx, store.list('Gateway'), health()));
  });
  app.get('/applications', (_req, res) => {
    const deviceNames = store.list('Device').map((d) => d.metadata.name);
    res.type('html').send(applicationsPage(ctx, store.list('Application'), deviceNames));
  });

  // ---- live streams (server-sent events) --------------------------------------------------
  const devicesFragments = (filter: DeviceFilter) => {
    const devices = store.list('Device');
    const shown = filterDevices(devices, filter);
    return {
      devices: deviceRowsKeyed(ctx, shown),
      bulk: bulkProgress(activeJobs(), devices).value,
      'device-count': `${shown.length} of ${devices.length}`,
    };
  };
  app.get('/ui/stream/overview', (req, res) => {
    live.subscribe(req, res, 'overview', () => {
      const devices = store.list('Device');
      return overviewFragments(ctx, devices, health(), recentFailures(devices, store.list('Application')));
    });
  });
  app.get('/ui/stream/devices', (req, res) => {
    const filter = deviceFilter(req.query);
    live.subscribe(req, res, `devices${filterQuery(filter)}`, () => devicesFragments(filter));
  });
  app.get('/ui/stream/topology', (req, res) => {
    live.subscribe(req, res, 'topology', () => ({
      topology: topologySvg(store.list('Gateway'), store.list('Device')).value,
    }));
  });
  app.get('/ui/stream/gateways', (req, res) => {
    live.subscribe(req, res, 'gateways', () => ({
      gateways: gatewayRows(store.list('Gateway'), health()).value,
    }));
  });
  app.get('/ui/stream/applications', (req, res) => {
    live.subscribe(req, res, 'applications', () => ({
      applications: applicationRows(ctx, store.list('Application')).value,
    }));
  });
  app.get('/ui/stream/device/:name', (req, res) => {
    const name = req.params.name!;
    const fromHeader = Number(req.headers['last-event-id']);
    const fromQuery = Number(req.query.after);
    let lastLogId =
      Number.isFinite(fromHeader) && fromHeader > 0 ? fromHeader : Number.isFinite(fromQuery) ? fromQuery : 0;
    live.subscribe(
      req,
      res,
      `device/${name}`,
      async () => {
        const device = store.get('Device', name);
        const timeline = device ? await timelines.get(device) : undefined;
        return deviceFragments(ctx, device, timeline, store.list('Application'));
      },
      (stream) => {
        const entries = options.logs.list(name, { afterId: lastLogId, limit: 500 });
        if (entries.length === 0) return;
        lastLogId = entries[entries.length - 1]!.id;
        stream.write(sseEvent('log', entries, lastLogId));
      },
    );
  });

  // ---- dashboard actions (htmx, CSRF token header required) ---------------------------------
  const ui = express.Router();
  ui.use((req, res, next) => {
    if (req.method !== 'GET' && !timingSafeEqual(String(req.headers['x-csrf-token'] ?? ''), csrfToken)) {
      res.status(403).type('text').send('missing or wrong CSRF token');
      return;
    }
    next();
  });
  /** Rows for the table the action came from: the overview's recent devices or a filtered list. */
  const rowsFor = (req: Request, error?: string) => {
    const current = typeof req.headers['hx-current-url'] === 'string' ? req.headers['hx-current-url'] : '';
    let devices = store.list('Device');
    try {
      const url = new URL(current);
      if (url.pathname === '/') devices = recentDevices(devices);
      else if (url.pathname === '/devices')
        devices = filterDevices(devices, deviceFilter(Object.fromEntries(url.searchParams)));
    } catch {
      // no HX-Current-URL: the whole list
    }
    return deviceRows(ctx, devices, error).value;
  };
  const uiError = (res: Response, err: unknown) => {
    const status = statusOf(err);
    if (status === 500) counters.errors++;
    return { status: status === 500 ? 500 : 200, message: err instanceof Error ? err.message : String(err) };
  };
  const uiAction =
    (action: (req: Request, res: Response) => Promise<unknown>, after?: () => string) =>
    async (req: Request, res: Response) => {
      try {
        await action(req, res);
        res.type('html').send(rowsFor(req) + (after?.() ?? ''));
      } catch (err) {
        const e = uiError(res, err);
        res.status(e.status).type('html').send(rowsFor(req, e.message));
      }
    };
  const onDevicePage = (req: Request) => {
    try {
      return /^\/devices\/[^/]+$/.test(new URL(String(req.headers['hx-current-url'] ?? '')).pathname);
    } catch {
      return false;
    }
  };
  /** From the device page an action answers a status line (or a redirect); from a table, rows. */
  const deviceAction =
    (action: (name: string) => Promise<unknown>, redirectAfter = false) =>
    async (req: Request, res: Response) => {
      const name = req.params.name as string;
      if (!onDevicePage(req)) return uiAction(() => action(name))(req, res);
      try {
        await action(name);
        if (redirectAfter) res.setHeader('HX-Redirect', '/devices');
        res.status(204).end();
      } catch (err) {
        const e = uiError(res, err);
        // htmx ignores error bodies by default; show the message through the live problem box.
        res.status(200).setHeader('HX-Retarget', '#live-problem').type('html').send(escapeHtml(e.message));
      }
    };
  ui.get('/devices', (req, res) => {
    res.type('html').send(rowsFor(req));
  });
  ui.post(
    '/devices',
    uiAction(
      (req) =>
        options.devices.create({
          name: req.body.name,
          mcuType: req.body.mcuType || undefined,
          labels: parseLabels(req.body.labels),
          gateway: req.body.gateway || undefined,
        }),
      () => nameInput(true).value, // a fresh suggestion, so the next click adds another device
    ),
  );
  ui.post('/devices/bulk', (req, res) => {
    const count = Number(req.body.count);
    const prefix = String(req.body.prefix ?? '');
    try {
      if (!Number.isInteger(count) || count < 1 || count > 500) {
        throw new ValidationError('count', 'count must be an integer from 1 to 500');
      }
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(prefix) || prefix.length > 50) {
        throw new ValidationError('prefix', `prefix "${prefix}" is not a DNS label`);
      }
      const labels = parseLabels(req.body.labels);
      const existing = new Set(store.list('Device').map((d) => d.metadata.name));
      const names: string[] = [];
      for (let i = 1; names.length < count; i++) {
        const name = `${prefix}-${i}`;
        if (!existing.has(name)) names.push(name);
      }
      const job: BulkJob = {
        id: crypto.randomUUID(),
        prefix,
        names,
        created: 0,
        errors: [],
        startedAt: Date.now(),
      };
      bulkJobs.push(job);
      void runBulk(job, { mcuType: req.body.mcuType || undefined, labels });
      res.type('html').send(bulkProgress(activeJobs(), store.list('Device')).value);
    } catch (err) {
      const e = uiError(res, err);
      res
        .status(e.status)
        .type('html')
        .send(`<div class="error" role="alert">${escapeHtml(e.message)}</div>`);
    }
  });
  const runBulk = async (job: BulkJob, spec: { mcuType?: string; labels?: Record<string, string> }) => {
    let next = 0;
    const worker = async () => {
      while (next < job.names.length) {
        const name = job.names[next++]!;
        try {
          await options.devices.create({ name, ...spec });
        } catch (err) {
          job.errors.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
        }
        job.created++;
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    job.finishedAt = Date.now();
  };
  ui.post(
    '/devices/:name/retry',
    deviceAction((name) => options.devices.retry(name)),
  );
  ui.post(
    '/devices/:name/restart',
    deviceAction((name) => options.devices.restart(name)),
  );
  ui.post(
    '/devices/:name/rotate-certificate',
    deviceAction((name) => options.devices.rotateCertificate(name)),
  );
  ui.post(
    '/devices/:name/delete',
    deviceAction((name) => options.devices.delete(name), true),
  );
  const appAction = (action: (name: string) => Promise<unknown>) => async (req: Request, res: Response) => {
    try {
      await action(req.params.name as string);
      res.type('html').send(applicationRows(ctx, store.list('Application')).value);
    } catch (err) {
      const e = uiError(res, err);
      res
        .status(e.status)
        .type('html')
        .send(applicationRows(ctx, store.list('Application'), e.message).value);
    }
  };
  // The upload form (multipart, like the API's upload); the answer goes next to the form.
  ui.post('/applications', async (req, res) => {
    try {
      if (!req.is('multipart/form-data')) {
        throw new ValidationError('body', 'send the upload form as multipart/form-data');
      }
      res.type('html').send(deployResult(await options.applications.create(await readApplicationForm(req))));
    } catch (err) {
      const e = uiError(res, err);
      res
        .status(e.status)
        .type('html')
        .send(deployResult({ error: e.message }));
    }
  });
  ui.post(
    '/applications/:name/promote',
    appAction((name) => options.applications.promote(name)),
  );
  ui.post(
    '/applications/:name/abort',
    appAction((name) => options.applications.abort(name)),
  );
  ui.post(
    '/applications/:name/stop',
    appAction((name) => options.applications.stop(name)),
  );
  ui.post(
    '/applications/:name/delete',
    appAction((name) => options.applications.delete(name)),
  );
  if (options.enrollments) {
    mountEnrollmentPages(app, ui, {
      ctx,
      live,
      enrollments: options.enrollments,
      uiError: (err) => uiError(undefined as unknown as Response, err),
    });
  }
  app.use('/ui', ui);

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status =
      err instanceof SyntaxError ? 400 : (err as { status?: number }).status === 413 ? 413 : statusOf(err);
    if (status === 500) counters.errors++;
    res
      .status(status)
      .json(
        err instanceof SyntaxError
          ? { error: { code: 'InvalidJson', message: err.message } }
          : errorBody(err),
      );
  });

  app.live = live;
  app.shutdown = () => live.stop();
  return app;
}
