/** The dashboard's actions under /ui (htmx; each needs the page's CSRF token header). */
import express, { type Request, type Response } from 'express';
import { ValidationError, errorMessage } from '../common/errors.js';
import { isDnsLabel } from '../common/names.js';
import { readApplicationForm } from './application-form.js';
import { mountEnrollmentActions } from './enrollment-routes.js';
import { escapeHtml } from './html.js';
import { statusOf } from './http-errors.js';
import { applicationRows, deployResult } from './pages/applications.js';
import { bulkProgress, deviceFilter, deviceRows, filterDevices, nameInput } from './pages/devices.js';
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
    return { status: status === 500 ? 500 : 200, message: errorMessage(err) };
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
      if (!isDnsLabel(prefix) || prefix.length > 50) {
        throw new ValidationError('prefix', `prefix "${prefix}" is not a DNS label`);
      }
      const labels = parseLabels(req.body.labels);
      const existing = new Set(store.list('Device').map((d) => d.metadata.name));
      const names: string[] = [];
      for (let i = 1; names.length < count; i++) {
        const name = `${prefix}-${i}`;
        if (!existing.has(name)) names.push(name);
      }
      web.bulkJobs.start(prefix, names, { mcuType: req.body.mcuType || undefined, labels });
      res.type('html').send(bulkProgress(web.bulkJobs.active(), store.list('Device')).value);
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
    mountEnrollmentActions(ui, {
      ctx,
      enrollments: options.enrollments,
      uiError: (err) => uiError(undefined as unknown as Response, err),
    });
  }
  return ui;
}
