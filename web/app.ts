/**
 * The web process's express app: REST API under /api/v1 (web/api-routes.ts) and the HTMX
 * dashboard (pages and live streams: web/dashboard-routes.ts; actions: web/ui-actions.ts),
 * behind the safety middleware of web/security.ts. Errors become JSON
 * `{error: {code, message, field?}}` with the right status (web/http-errors.ts).
 */
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import express from 'express';
import { createApiRouter } from './api-routes.js';
import { CLIENT_JS } from './client-script.js';
import { mountDashboardRoutes, renderDevicesPage } from './dashboard-routes.js';
import type { HealthSnapshot } from './health.js';
import { jsonErrorHandler } from './http-errors.js';
import { LiveHub } from './live.js';
import { RecentBatches } from './recent-batches.js';
import { DeviceBatchService } from '../services/device-batch-service.js';
import { metricsHandler } from './metrics.js';
import { RecentFailures } from './recent-failures.js';
import { refuseCrossSite, requireApiToken, securityHeaders } from './security.js';
import { TimelineCache } from './timeline.js';
import { createUiRouter } from './ui-actions.js';
import type { WebAppOptions, WebContext } from './web-context.js';

export type { WebAppOptions } from './web-context.js';

export interface WebApp extends express.Express {
  live: LiveHub;
  /** The devices page for a query string's parameters (e.g. {limit: '1000'}), as GET /devices renders it. */
  renderDevicesPage(query?: Record<string, string>): Promise<string>;
  shutdown(): void;
}

const require = createRequire(import.meta.url);
const HTMX_PATH = require.resolve('htmx.org/dist/htmx.min.js');

const EMPTY_HEALTH: HealthSnapshot = { checkedAt: null, processes: [] };

export function createWebApp(options: WebAppOptions): WebApp {
  const app = express() as unknown as WebApp;
  const { store } = options;
  const deviceBatches = new DeviceBatchService(store, options.devices);
  const web: WebContext = {
    options,
    store,
    dashboard: {
      csrfToken: crypto.randomBytes(24).toString('hex'),
      workflowUrl: options.workflowUrl,
      temporalUiUrl: options.temporalUiUrl,
    },
    live: new LiveHub(store, {
      intervalMs: options.liveIntervalMs,
      maxIdleMs: options.liveMaxIdleMs,
      extraVersion: () => options.healthMonitor?.version ?? 0,
    }).start(),
    timelines: new TimelineCache(options.client),
    recentFailures: new RecentFailures(options.client, options.workflowUrl),
    deviceBatches,
    recentBatches: new RecentBatches(deviceBatches),
    health: () => options.healthMonitor?.snapshot() ?? EMPTY_HEALTH,
    counters: { requests: 0, errors: 0 },
  };

  app.disable('x-powered-by');
  if (options.requestTracing) app.use(options.requestTracing);
  app.use((_req, _res, next) => {
    web.counters.requests++;
    next();
  });
  app.use(securityHeaders());
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

  if (options.apiToken) app.use(requireApiToken(options.apiToken));
  app.use(refuseCrossSite());

  app.get('/metrics', metricsHandler(web));
  app.use('/api/v1', createApiRouter(web));
  mountDashboardRoutes(app, web);
  app.use('/ui', createUiRouter(web));
  app.use(
    jsonErrorHandler(() => {
      web.counters.errors++;
    }),
  );

  app.live = web.live;
  app.renderDevicesPage = (query?: Record<string, string>) => renderDevicesPage(web, query);
  app.shutdown = () => web.live.stop();
  return app;
}
