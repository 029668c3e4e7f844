/** The enrollments page's routes: GET /enrollments, its live stream, and its actions under /ui. */
import type { Request, Response, Router } from 'express';
import type express from 'express';
import type { EnrollmentService } from '../services/enrollment-service.js';
import type { LiveHub, LiveView } from './live.js';
import {
  credentialRows,
  enrollmentsPage,
  newClaimCertificateBox,
  newTokenBox,
  pendingRows,
} from './pages/enrollments.js';
import type { DashboardContext } from './pages/layout.js';

export interface EnrollmentPageDeps {
  ctx: DashboardContext;
  enrollments: EnrollmentService;
}

export interface EnrollmentActionDeps extends EnrollmentPageDeps {
  /** Turns an error into the status and message the dashboard shows (web/ui-actions.ts). */
  uiError(err: unknown): { status: number; message: string };
}

/** GET /enrollments and its live stream. */
export function mountEnrollmentPage(app: express.Express, live: LiveHub, deps: EnrollmentPageDeps): void {
  const { ctx, enrollments } = deps;
  const view = (): LiveView => ({
    key: 'enrollments',
    // Pending enrollments are Devices; the credentials are not resources (the idle re-render
    // shows one a gateway bound).
    watch: [{ kind: 'Device' }],
    render: async () => ({
      enrollments: pendingRows(ctx, await enrollments.listPending()).value,
      'claim-credentials': credentialRows(await enrollments.listCredentials()).value,
    }),
  });
  app.get('/enrollments', async (_req, res) => {
    const v = view();
    const f = (await v.render()) as { enrollments: string; 'claim-credentials': string };
    res.type('html').send(enrollmentsPage(ctx, f, live.pageStream(v.key, f, '/ui/stream/enrollments')));
  });
  app.get('/ui/stream/enrollments', (req, res) => live.subscribe(req, res, view()));
}

/** The enrollments page's actions under /ui (the router checks CSRF). */
export function mountEnrollmentActions(ui: Router, deps: EnrollmentActionDeps): void {
  const { ctx, enrollments } = deps;
  const decide =
    (action: (name: string, req: Request) => Promise<unknown>) => async (req: Request, res: Response) => {
      let error: string | undefined;
      let status = 200;
      try {
        await action(req.params.name as string, req);
      } catch (err) {
        ({ status, message: error } = deps.uiError(err));
      }
      res
        .status(status)
        .type('html')
        .send(pendingRows(ctx, await enrollments.listPending(), error).value);
    };
  ui.post(
    '/enrollments/:name/approve',
    decide((name) => enrollments.approve(name)),
  );
  ui.post(
    '/enrollments/:name/reject',
    decide((name, req) => {
      const prompt = req.headers['hx-prompt'];
      return enrollments.reject(name, typeof prompt === 'string' && prompt ? prompt : undefined);
    }),
  );
  /** The credential list, after an action, with what the action answered or why it failed. */
  const credentialAction =
    (action: (req: Request) => Promise<string>) => async (req: Request, res: Response) => {
      let shown = '';
      let error: string | undefined;
      let status = 200;
      try {
        shown = await action(req);
      } catch (err) {
        ({ status, message: error } = deps.uiError(err));
      }
      res
        .status(status)
        .type('html')
        .send(credentialRows(await enrollments.listCredentials(), error).value + shown);
    };
  ui.post(
    '/enrollment-tokens',
    credentialAction(async (req) => {
      const token = await enrollments.createToken({
        name: req.body?.name ? req.body.name : undefined,
        ttl: req.body?.ttl ? req.body.ttl : undefined,
      });
      return newTokenBox(token).value;
    }),
  );
  ui.post(
    '/claim-certificates',
    credentialAction(async (req) => {
      const claim = await enrollments.createClaimCertificate({
        name: req.body?.name,
        ttl: req.body?.ttl ? req.body.ttl : undefined,
      });
      return newClaimCertificateBox(claim).value;
    }),
  );
  ui.post(
    '/claim-credentials/:id/revoke',
    credentialAction(async (req) => {
      await enrollments.revokeCredential(req.params.id as string);
      return '';
    }),
  );
}
