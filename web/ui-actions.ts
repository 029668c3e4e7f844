/** The dashboard's actions under /ui (htmx; each needs the page's CSRF token header). */
import express, { type Request, type Response } from 'express';
import { ValidationError, errorMessage } from '../common/errors.js';
import type { Device } from '../common/resources.js';
import { readApplicationForm } from './application-form.js';
import { mountEnrollmentActions } from './enrollment-routes.js';
import { escapeHtml } from './html.js';
import { statusOf } from './http-errors.js';
import { applicationRows, deployResult } from './pages/applications.js';
import { bulkProgress, deviceRows, devicesPageQuery, nameInput } from './pages/devices.js';
import { recentDevices } from './pages/overview.js';
import { requireCsrfToken } from './security.js';
import type { WebContext } from './web-context.js';

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

export function createUiRouter(web: WebContext): express.Router {
  const { options, store, counters } = web;
  const ctx = web.dashboard;
  const ui = express.Router();
  ui.use(requireCsrfToken(ctx.csrfToken));
  /** Rows for the table the action came from: the overview's recent devices or a filtered list. */
  const rowsFor = async (req: Request, error?: string): Promise<string> => {
    const current = typeof req.headers['hx-current-url'] === 'string' ? req.headers['hx-current-url'] : '';
    let url: URL | undefined;
    try {
      url = new URL(current);
    } catch {
      // no HX-Current-URL: the first page
    }
    if (url?.pathname === '/') return deviceRows(ctx, recentDevices(await store.list('Device')), error).value;
    const query = devicesPageQuery(url?.pathname === '/devices' ? Object.fromEntries(url.searchParams) : {});
    let devices: Device[] = [];
    try {
      devices = (await store.listPage('Device', query)).items;
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err; // the page already says what is wrong with its URL
    }
    return deviceRows(ctx, devices, error, query).value;
  };
  const uiError = (res: Response, err: unknown) => {
    const status = statusOf(err);
    if (status === 500) counters.errors++;
    return { status: status === 500 ? 500 : 200, message: errorMessage(err) };
  };
  const uiAction =
    (action: (req: Request, res: Response) => Promise<unknown>, after?: () => string) =>
    async (req: Request, res: Response) => {
      try {
        await action(req, res);
        // The table is live: its stream sends the rows the action changed. The rows as they were
        // when the action ran (100 kB for a page of 50) only made the page open its stream again
        // (client-script.ts) and receive them a second time; out-of-band parts still apply.
        res.setHeader('HX-Reswap', 'none');
        res.type('html').send(after?.() ?? '');
      } catch (err) {
        const e = uiError(res, err);
        res
          .status(e.status)
          .type('html')
          .send(await rowsFor(req, e.message));
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
  ui.get('/devices', async (req, res) => {
    res.type('html').send(await rowsFor(req));
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
  // The bulk form: a device batch (services/device-batch-service.ts) named after the form's
  // prefix, numbered after the highest number that prefix already has, so pressing the button
  // again adds more. The answer comes once the devices are in the store; their workflows start
  // in the background and the progress bars follow them.
  ui.post('/devices/bulk', async (req, res) => {
    try {
      const prefix = String(req.body.prefix ?? '');
      const numbers = (await store.listPage('Device', { namePrefix: `${prefix}-` })).items
        .map((d) => Number(d.metadata.name.slice(prefix.length + 1)))
        .filter((n) => Number.isInteger(n));
      const start = Math.max(0, ...numbers) + 1;
      const count = Number(req.body.count);
      const batch = await web.deviceBatches.insert({
        count,
        prefix,
        start,
        mcuType: req.body.mcuType || undefined,
        labels: parseLabels(req.body.labels),
      });
      web.recentBatches.add(batch.name, `${prefix}-${start}…${start + count - 1}`);
      void batch.start().then(
        (result) => {
          if (result.failed.length)
            web.recentBatches.failed(
              batch.name,
              `${result.failed.length} could not start: ${result.failed[0]!.message}`,
            );
        },
        (err: unknown) => web.recentBatches.failed(batch.name, errorMessage(err)),
      );
      res.type('html').send(bulkProgress(await web.recentBatches.progress()).value);
    } catch (err) {
      const e = uiError(res, err);
      res
        .status(e.status)
        .type('html')
        .send(`<div class="error" role="alert">${escapeHtml(e.message)}</div>`);
    }
  });
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
      res.type('html').send(applicationRows(ctx, await store.list('Application')).value);
    } catch (err) {
      const e = uiError(res, err);
      res
        .status(e.status)
        .type('html')
        .send(applicationRows(ctx, await store.list('Application'), e.message).value);
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
    mountEnrollmentActions(ui, {
      ctx,
      enrollments: options.enrollments,
      uiError: (err) => uiError(undefined as unknown as Response, err),
    });
  }
  return ui;
}
