/** The dashboard's pages and their live streams (server-sent events under /ui/stream). */
import type express from 'express';
import { ValidationError } from '../common/errors.js';
import type { ListQuery } from '../store/list-query.js';
import { listQueryString } from './list-params.js';
import { mountEnrollmentPage } from './enrollment-routes.js';
import type { LiveView } from './live.js';
import { applicationRows, applicationsPage } from './pages/applications.js';
import { deviceFragments, devicePage } from './pages/device.js';
import { devicesFragments, devicesPage, devicesPageQuery, type DevicesView } from './pages/devices.js';
import { gatewayRows, gatewaysPage } from './pages/gateways.js';
import { overviewFragments, overviewPage, type OverviewFragments } from './pages/overview.js';
import { topologyPage, topologySvg } from './pages/topology.js';
import { trendCharts, trendsPage } from './pages/trends.js';
import { TrendRecorder } from './trends.js';
import { sseEvent, type Fragments } from './view-diff.js';
import type { WebContext } from './web-context.js';

/** The topology is rendered at most this often: see its stream. */
export const TOPOLOGY_MIN_INTERVAL_MS = 2000;

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/**
 * One page of devices and the counts around it, for the devices page and its stream: a page
 * and three counts from the store, whatever the size of the fleet. A query the store refuses
 * (a bad selector, a token from other filters) becomes a message instead of rows.
 */
export async function loadDevicesView(web: WebContext, query: ListQuery): Promise<DevicesView> {
  const { store } = web;
  const [gateways, byGateway] = await Promise.all([
    store.list('Gateway'),
    store.countBy('Device', 'gateway'),
  ]);
  const gatewayNames = [
    ...new Set([...gateways.map((g) => g.metadata.name), ...Object.keys(byGateway).filter(Boolean)]),
  ].sort();
  try {
    const { phase, limit: _limit, continue: _continue, ...others } = query;
    const [page, byPhase] = await Promise.all([
      store.listPage('Device', query),
      store.countBy('Device', 'phase', others),
    ]);
    const filtered = Object.values(others).some((v) => v !== undefined && v !== '');
    return {
      query,
      page,
      byPhase,
      matching: phase ? (byPhase[phase] ?? 0) : sum(byPhase),
      total: filtered ? sum(await store.countBy('Device', 'phase')) : sum(byPhase),
      gatewayNames,
    };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const page = { items: [], metadata: {} };
    return { query, page, byPhase: {}, matching: 0, total: 0, gatewayNames, error: err.message };
  }
}

/** The devices page's fragments for a query, as its page and its stream render them. */
async function devicesViewFragments(web: WebContext, query: ListQuery) {
  const view = await loadDevicesView(web, query);
  return { view, fragments: devicesFragments(web.dashboard, view, await web.recentBatches.progress()) };
}

/** Renders the devices page as GET /devices does, for a query string's parameters. */
export async function renderDevicesPage(
  web: WebContext,
  query: Record<string, unknown> = {},
): Promise<string> {
  const q = devicesPageQuery(query);
  const [{ view, fragments }, applications] = await Promise.all([
    devicesViewFragments(web, q),
    web.store.list('Application'),
  ]);
  const stream = web.live.pageStream(devicesKey(q), fragments, `/ui/stream/devices${listQueryString(q)}`);
  return devicesPage(
    web.dashboard,
    view,
    fragments,
    stream,
    applications.map((a) => a.metadata.name),
  );
}

const devicesKey = (query: ListQuery) => `devices${listQueryString(query)}`;

export function mountDashboardRoutes(app: express.Express, web: WebContext): void {
  const { options, store, live, timelines, health } = web;
  const ctx = web.dashboard;
  const recentFailures = web.recentFailures.list.bind(web.recentFailures);
  const trends = options.trends ?? new TrendRecorder(store);

  /**
   * Each page's live view, defined once: the page renders it and names what it rendered in its
   * stream URL (LiveHub.pageStream), and its stream renders it again on every change.
   */
  const views = {
    overview: (): LiveView => ({
      key: 'overview',
      watch: [{ kind: 'Device' }, { kind: 'Application' }],
      render: async () => {
        const [devices, applications] = await Promise.all([store.list('Device'), store.list('Application')]);
        return overviewFragments(ctx, devices, health(), recentFailures(devices, applications));
      },
    }),
    devices: (query: ListQuery): LiveView => ({
      key: devicesKey(query),
      watch: [{ kind: 'Device' }],
      // Only this page's rows are rendered and compared, so a change sends its own row, at any fleet size.
      render: async () => (await devicesViewFragments(web, query)).fragments,
    }),
    device: (name: string): LiveView => ({
      key: `device/${name}`,
      // This device only: another device's heartbeat does not re-render this page.
      watch: [{ kind: 'Device', name }, { kind: 'Application' }],
      render: async () => {
        const device = await store.get('Device', name);
        const timeline = device ? await timelines.get(device) : undefined;
        return deviceFragments(ctx, device, timeline, await store.list('Application'));
      },
    }),
    trends: (): LiveView => ({
      key: 'trends',
      // The trends follow the recorder's clock, not the store: the idle re-render picks them up.
      watch: [],
      render: () => ({ trends: trendCharts(trends.trends()).value }),
    }),
    topology: (): LiveView => ({
      key: 'topology',
      watch: [{ kind: 'Gateway' }, { kind: 'Device' }],
      // The SVG goes whole (~100 kB at 300 devices): re-sent on every 200 ms tick while a batch
      // provisioned, 40 devices sent one tab 1.9 MB in 20 s.
      minIntervalMs: TOPOLOGY_MIN_INTERVAL_MS,
      render: async () => ({
        topology: topologySvg(await store.list('Gateway'), await store.list('Device')).value,
      }),
    }),
    gateways: (): LiveView => ({
      key: 'gateways',
      watch: [{ kind: 'Gateway' }],
      render: async () => ({ gateways: gatewayRows(await store.list('Gateway'), health()).value }),
    }),
    applications: (): LiveView => ({
      key: 'applications',
      watch: [{ kind: 'Application' }],
      render: async () => ({ applications: applicationRows(ctx, await store.list('Application')).value }),
    }),
  };
  /** A page's view rendered for it, and its stream URL naming that render. */
  const pageView = async <F extends Fragments>(view: LiveView, streamUrl: string) => {
    const fragments = (await view.render()) as F;
    return { f: fragments, stream: live.pageStream(view.key, fragments, streamUrl) };
  };

  app.get('/', async (_req, res) => {
    const { f, stream } = await pageView<OverviewFragments>(views.overview(), '/ui/stream/overview');
    res.type('html').send(overviewPage(ctx, f, stream));
  });
  app.get('/devices', async (req, res) => {
    res.type('html').send(await renderDevicesPage(web, req.query));
  });
  app.get('/devices/:name', async (req, res) => {
    const name = req.params.name!;
    const device = await store.get('Device', name);
    if (!device) {
      res
        .status(404)
        .type('html')
        .send(`<!doctype html><title>Not found</title><p>No such device. <a href="/devices">Devices</a></p>`);
      return;
    }
    const logs = await options.logs.list(name, { limit: 200 });
    const lastId = logs.length ? logs[logs.length - 1]!.id : 0;
    const { f, stream } = await pageView<Record<string, string>>(
      views.device(name),
      `/ui/stream/device/${encodeURIComponent(name)}?after=${lastId}`,
    );
    res.type('html').send(devicePage(ctx, device, f, logs, stream));
  });
  app.get('/trends', async (_req, res) => {
    const { f, stream } = await pageView<{ trends: string }>(views.trends(), '/ui/stream/trends');
    res.type('html').send(trendsPage(ctx, f, stream));
  });
  app.get('/topology', async (_req, res) => {
    const { f, stream } = await pageView<{ topology: string }>(views.topology(), '/ui/stream/topology');
    res.type('html').send(topologyPage(ctx, f, stream));
  });
  app.get('/gateways', async (_req, res) => {
    const { f, stream } = await pageView<{ gateways: string }>(views.gateways(), '/ui/stream/gateways');
    res.type('html').send(gatewaysPage(ctx, f, stream));
  });
  app.get('/applications', async (_req, res) => {
    const deviceNames = (await store.list('Device')).map((d) => d.metadata.name);
    const { f, stream } = await pageView<{ applications: string }>(
      views.applications(),
      '/ui/stream/applications',
    );
    res.type('html').send(applicationsPage(ctx, f, deviceNames, stream));
  });

  // ---- live streams (server-sent events) --------------------------------------------------
  app.get('/ui/stream/overview', (req, res) => live.subscribe(req, res, views.overview()));
  app.get('/ui/stream/devices', (req, res) =>
    live.subscribe(req, res, views.devices(devicesPageQuery(req.query))),
  );
  app.get('/ui/stream/topology', (req, res) => live.subscribe(req, res, views.topology()));
  app.get('/ui/stream/gateways', (req, res) => live.subscribe(req, res, views.gateways()));
  app.get('/ui/stream/applications', (req, res) => live.subscribe(req, res, views.applications()));
  app.get('/ui/stream/trends', (req, res) => live.subscribe(req, res, views.trends()));
  app.get('/ui/stream/device/:name', (req, res) => {
    const name = req.params.name!;
    const fromHeader = Number(req.headers['last-event-id']);
    const fromQuery = Number(req.query.after);
    let lastLogId =
      Number.isFinite(fromHeader) && fromHeader > 0 ? fromHeader : Number.isFinite(fromQuery) ? fromQuery : 0;
    live.subscribe(req, res, {
      ...views.device(name),
      onTick: async (stream) => {
        const entries = await options.logs.list(name, { afterId: lastLogId, limit: 500 });
        if (entries.length === 0) return;
        lastLogId = entries[entries.length - 1]!.id;
        stream.write(sseEvent('log', entries, lastLogId));
      },
    });
  });
  if (options.enrollments) {
    mountEnrollmentPage(app, live, { ctx, enrollments: options.enrollments });
  }
}
