/**
 * The web process's safety middleware. Beyond localhost every request needs the API token;
 * every state-changing request must come from this origin (Origin / Sec-Fetch-Site), and
 * dashboard actions under /ui also need the page's CSRF token header; every user string is
 * escaped by web/html.ts, and the Content-Security-Policy forbids inline script.
 */
import crypto from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

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

export function timingSafeEqual(a: string, b: string): boolean {
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

/** nosniff and referrer policy everywhere; CSP and frame denial on dashboard pages. */
export function securityHeaders(): RequestHandler {
  return (req, res, next) => {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'same-origin');
    if (req.method === 'GET' && !req.path.startsWith('/api/')) {
      res.setHeader('content-security-policy', CSP);
      res.setHeader('x-frame-options', 'DENY');
    }
    next();
  };
}

/** Beyond localhost every request needs the token (header, or a cookie set by /?token=). */
export function requireApiToken(token: string): RequestHandler {
  return (req, res, next) => {
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
  };
}

/** CSRF, first line: no state-changing request from another site, API or dashboard alike. */
export function refuseCrossSite(): RequestHandler {
  return (req, res, next) => {
    if (!STATE_CHANGING.has(req.method)) return next();
    const why = crossSite(req);
    if (why) {
      res
        .status(403)
        .json({ error: { code: 'CrossSiteRequest', message: `cross-site request refused (${why})` } });
      return;
    }
    next();
  };
}

/** CSRF, second line for dashboard actions: the page's token in the X-CSRF-Token header. */
export function requireCsrfToken(csrfToken: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== 'GET' && !timingSafeEqual(String(req.headers['x-csrf-token'] ?? ''), csrfToken)) {
      res.status(403).type('text').send('missing or wrong CSRF token');
      return;
    }
    next();
  };
}
