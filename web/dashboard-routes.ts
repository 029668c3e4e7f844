/** The dashboard's pages and their live streams (server-sent events under /ui/stream). */
import type express from 'express';
import { ValidationError } from '../common/errors.js';
import type { ListQuery } from '../store/list-query.js';
import { listQueryString } from './list-params.js';
import { mountEnrollmentPage } from './enrollment-routes.js';
import { sseEvent } from './live.js';
import { applicationRows, applicationsPage } from './pages/applications.js';
import { deviceFragments, devicePage } from './pages/device.js';
import {
  bulkProgress,
  devicePager,
  deviceRowsKeyed,
  devicesPage,
  devicesPageQuery,
  type DevicesView,
} from './pages/devices.js';
import { gatewayRows, gatewaysPage } from './pages/gateways.js';
import { overviewFragments, overviewPage } from './pages/overview.js';
import { topologyPage, topologySvg } from './pages/topology.js';
import { trendCharts, trendsPage } from './pages/trends.js';
import { TrendRecorder } from './trends.js';
import type { WebContext } from './web-context.js';

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/**
 * One page of devices and the counts around it, for the devices page and its stream: a page
 * and three counts from the store, whatever the size of the fleet. A query the store refuses
 * (a bad selector, a token from other filters) becomes a message instead of rows.
 */
export function loadDevicesView(web: WebContext, query: ListQuery): DevicesView {
  const { store } = web;
  const gatewayNames = [
    ...new Set([
      ...store.list('Gateway').map((g) => g.metadata.name),
      ...Object.keys(store.countBy('Device', 'gateway')).filter(Boolean),
    ]),
  ].sort();
  try {
    const page = store.listPage('Device', query);
    const { phase, limit: _limit, continue: _continue, ...others } = query;
    const byPhase = store.countBy('Device', 'phase', others);
    const filtered = Object.values(others).some((v) => v !== undefined && v !== '');
    return {
      query,
      page,
      byPhase,
      matching: phase ? (byPhase[phase] ?? 0) : sum(byPhase),
      total: filtered ? sum(store.countBy('Device', 'phase')) : sum(byPhase),
      gatewayNames,
    };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const page = { items: [], metadata: {} };
    return { query, page, byPhase: {}, matching: 0, total: 0, gatewayNames, error: err.message };
  }
}

/** Renders the devices page as GET /devices does, for a query string's parameters. */
export function renderDevicesPage(web: WebContext, query: Record<string, unknown> = {}): string {
  const view = loadDevicesView(web, devicesPageQuery(query));
  return devicesPage(web.dashboard, view, web.recentBatches.progress());
}

export function mountDashboardRoutes(app: express.Express, web: WebContext): void {
  const { options, store, live, timelines, health } = web;
  const ctx = web.dashboard;
  const recentFailures = web.recentFailures.list.bind(web.recentFailures);

  app.get('/', (_req, res) => {
    const devices = store.list('Device');
    res
      .type('html')
      .send(overviewPage(ctx, devices, health(), recentFailures(devices, store.list('Application'))));
  });
  app.get('/devices', (req, res) => {
    res.type('html').send(renderDevicesPage(web, req.query));
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
  const trends = options.trends ?? new TrendRecorder(store);
  app.get('/trends', (_req, res) => {
    res.type('html').send(trendsPage(ctx, trends.trends()));
  });
  app.get('/ui/stream/trends', (req, res) => {
    live.subscribe(req, res, 'trends', () => ({ trends: trendCharts(trends.trends()).value }));
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
  /** Only this page's rows are rendered and compared, so a change sends its own row, at any fleet size. */
  const devicesFragments = (query: ListQuery) => {
    const view = loadDevicesView(web, query);
    return {
      devices: deviceRowsKeyed(ctx, view.page.items),
      bulk: bulkProgress(web.recentBatches.progress()).value,
      'device-pager': devicePager(view).value,
    };
  };
  app.get('/ui/stream/overview', (req, res) => {
    live.subscribe(req, res, 'overview', () => {
      const devices = store.list('Device');
      return overviewFragments(ctx, devices, health(), recentFailures(devices, store.list('Application')));
    });
  });
  app.get('/ui/stream/devices', (req, res) => {
    const query = devicesPageQuery(req.query);
    live.subscribe(req, res, `devices${listQueryString(query)}`, () => devicesFragments(query));
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
  if (options.enrollments) {
    mountEnrollmentPage(app, live, { ctx, enrollments: options.enrollments });
  }
}
