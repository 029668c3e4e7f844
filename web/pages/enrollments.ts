/**
 * The dashboard's enrollments page (/enrollments): boards waiting for an operator, live over
 * server-sent events, with Approve / Reject (htmx, CSRF header); and the claim credentials,
 * with forms that create an enrollment token or a claim certificate (shown once) and Revoke
 * buttons. Its routes and actions: web/enrollment-routes.ts.
 */
import type { ClaimCredential } from '../../pki/claim-credentials.js';
import { layout, type DashboardContext } from './layout.js';
import type { PendingEnrollment } from '../../services/enrollment-service.js';
import { DNS_LABEL_HTML_PATTERN } from '../../common/names.js';
import { html, raw, type RawHtml } from '../html.js';

function age(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

/** 64 hex digits in groups of four, so a person can compare them with the board's display. */
const grouped = (hex: string) => hex.replace(/(.{4})(?!$)/g, '$1 ');

export function pendingRows(ctx: DashboardContext, items: PendingEnrollment[], error?: string): RawHtml {
  const errorRow = error
    ? html`<tr>
        <td colspan="8" class="error" role="alert">${error}</td>
      </tr>`
    : html``;
  if (items.length === 0) {
    return html`${errorRow}
      <tr>
        <td colspan="8">No board is waiting for approval.</td>
      </tr>`;
  }
  return html`${errorRow}${items.map((e) => {
    const path = `/ui/enrollments/${encodeURIComponent(e.name)}`;
    return html`<tr id="enrollment-${e.name}" data-enrollment="${e.name}">
      <td><a href="/devices/${encodeURIComponent(e.name)}">${e.name}</a></td>
      <td>
        <code class="fingerprint" title="SHA-256 of the CSR's public key">${grouped(e.csrFingerprint)}</code>
      </td>
      <td>${e.keyType ?? ''}</td>
      <td>${e.sourceAddress ?? ''}</td>
      <td>${e.gateway ?? ''}</td>
      <td>${e.claim ?? ''}</td>
      <td title="${e.requestedAt ?? ''}">${age(e.ageSeconds)}</td>
      <td>
        <a class="workflow" href="${ctx.workflowUrl(e.workflowId)}" target="_blank" rel="noopener"
          >workflow</a
        >
        <button hx-post="${path}/approve" hx-target="#enrollments" data-action="approve">Approve</button>
        <button
          hx-post="${path}/reject"
          hx-target="#enrollments"
          hx-prompt="Reject ${e.name}: reason (the board is told)"
          data-action="reject"
        >
          Reject
        </button>
      </td>
    </tr>`;
  })}`;
}

export function credentialRows(items: ClaimCredential[], error?: string): RawHtml {
  const errorRow = error
    ? html`<tr>
        <td colspan="7" class="error" role="alert">${error}</td>
      </tr>`
    : html``;
  if (items.length === 0) {
    return html`${errorRow}
      <tr>
        <td colspan="7">No claim credentials yet.</td>
      </tr>`;
  }
  return html`${errorRow}${items.map(
    (c) =>
      html`<tr id="claim-${c.id}" data-claim="${c.id}" data-state="${c.state}">
        <td><code>${c.id}</code></td>
        <td>${c.kind}</td>
        <td>${c.deviceName ?? 'any name'}</td>
        <td>
          <span
            class="chip ${c.state === 'Active' || c.state === 'Enrolled' ? 'ok' : c.state === 'Bound' ? 'degraded' : 'down'}"
            >${c.state}</span
          >
          ${c.reason ? html`<div class="msg">${c.reason}</div>` : ''}
        </td>
        <td>${c.expiresAt}</td>
        <td>${c.usedBy ?? ''}</td>
        <td>
          ${
            c.state === 'Active' || c.state === 'Bound'
              ? html`<button
                  hx-post="/ui/claim-credentials/${encodeURIComponent(c.id)}/revoke"
                  hx-target="#claim-credentials"
                  hx-confirm="Revoke ${c.id}?"
                >
                  Revoke
                </button>`
              : ''
          }
        </td>
      </tr>`,
  )}`;
}

/** The token just created: shown once, never stored in clear. */
export function newTokenBox(token: {
  id: string;
  token: string;
  expiresAt: string;
  name: string | null;
}): RawHtml {
  return html`<div id="new-token" hx-swap-oob="true" class="card">
    <strong>Token ${token.id}</strong> for ${token.name ?? 'any device name'}, valid until ${token.expiresAt}.
    Copy it now; it is not shown again:
    <pre data-token>${token.token}</pre>
    <small
      >On the board:
      <code>npx wasmbed-device --gateway HOST:PORT --ca ca.pem --claim-token … --name NAME</code></small
    >
  </div>`;
}

/** A claim certificate just created: certificate and claim key, shown once. */
export function newClaimCertificateBox(claim: {
  id: string;
  certPem: string;
  keyPem: string;
  expiresAt: string;
  name: string;
}): RawHtml {
  return html`<div id="new-token" hx-swap-oob="true" class="card">
    <strong>Claim certificate ${claim.id}</strong> for ${claim.name}, valid until ${claim.expiresAt}. Put both
    on the board (<code>--claim-cert</code>, <code>--claim-key</code>); the key is not shown again:
    <pre data-claim-cert>${claim.certPem}</pre>
    <pre data-claim-key>${claim.keyPem}</pre>
  </div>`;
}

export function enrollmentsPage(
  ctx: DashboardContext,
  f: { enrollments: string; 'claim-credentials': string },
  stream: string,
): string {
  return layout(ctx, {
    title: 'Enrollments',
    path: '/enrollments',
    stream,
    body: html`<h1>Enrollments</h1>
      <p>
        Real boards join with a claim credential: they generate their own key and send a certificate signing
        request. Pre-registered devices (<code>"enrollment": "preauthorized"</code>) are approved at once; the
        others wait here. Compare the fingerprint with the one the board prints. Devices trust the CA at
        <a href="/api/v1/pki/ca.pem">/api/v1/pki/ca.pem</a>.
      </p>
      <h2>Waiting for approval</h2>
      <table>
        <thead>
          <tr>
            <th>Device</th>
            <th>CSR fingerprint (SHA-256 of its key)</th>
            <th>Key</th>
            <th>Source address</th>
            <th>Gateway</th>
            <th>Claim</th>
            <th>Age</th>
            <th></th>
          </tr>
        </thead>
        <tbody id="enrollments">
          ${raw(f.enrollments)}
        </tbody>
      </table>
      <h2>Claim credentials</h2>
      <form id="token-form" class="add" hx-post="/ui/enrollment-tokens" hx-target="#claim-credentials">
        <label
          >Device name (optional)
          <input name="name" placeholder="any name" pattern="${DNS_LABEL_HTML_PATTERN}"
        /></label>
        <label>Valid for <input name="ttl" value="24h" size="6" /></label>
        <button type="submit">Create enrollment token</button>
      </form>
      <form id="claim-cert-form" class="add" hx-post="/ui/claim-certificates" hx-target="#claim-credentials">
        <label>Device name <input name="name" required pattern="${DNS_LABEL_HTML_PATTERN}" /></label>
        <label>Valid for <input name="ttl" value="30d" size="6" /></label>
        <button type="submit">Create claim certificate</button>
      </form>
      <div id="new-token"></div>
      <table>
        <thead>
          <tr>
            <th>Id</th>
            <th>Kind</th>
            <th>Device</th>
            <th>State</th>
            <th>Expires</th>
            <th>Used by</th>
            <th></th>
          </tr>
        </thead>
        <tbody id="claim-credentials">
          ${raw(f['claim-credentials'])}
        </tbody>
      </table>`,
  });
}
