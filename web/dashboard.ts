/** The HTMX dashboard: server-rendered pages and fragments, polled for live phases. */
import { MCU_TYPES, DEFAULT_MCU_TYPE } from '../common/mcu-profiles.js';
import type { Device, ProvisioningStep } from '../common/resources.js';
import { html, raw, type RawHtml } from './html.js';

export interface DashboardContext {
  csrfToken: string;
  workflowUrl: (workflowId: string) => string;
  temporalUiUrl: string;
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px;display:flex;gap:24px;align-items:center}
header a{color:#9cc3ff}
main{padding:24px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:8px 10px;border-bottom:1px solid #e3e6ea;text-align:left;font-size:14px;vertical-align:top}
.phase{padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600}
.Pending{background:#eee}.Provisioning{background:#fff3c4}.Connected{background:#c9f2d0}
.Disconnected,.Unreachable{background:#ffe0b3}.Failed{background:#ffc9c9}.Deprovisioning{background:#dde3ff}
.steps{display:flex;gap:4px;flex-wrap:wrap}.step{font-size:11px;padding:1px 6px;border-radius:8px;background:#eee}
.step.Running{background:#fff3c4}.step.Succeeded{background:#c9f2d0}.step.Failed{background:#ffc9c9}
form.add{display:flex;gap:8px;margin-bottom:16px;align-items:center}
.error{color:#b00020;margin:8px 0}.msg{color:#8a1c1c;font-size:12px}
button{cursor:pointer}`;

export function dashboardPage(ctx: DashboardContext, devices: Device[]): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>Wasmbed</title>
        <script src="/assets/htmx.min.js"></script>
        <style>
          ${raw(STYLE)}
        </style>
      </head>
      <body hx-headers="${JSON.stringify({ 'X-CSRF-Token': ctx.csrfToken })}">
        <header>
          <strong>Wasmbed</strong>
          <a href="${ctx.temporalUiUrl}" target="_blank" rel="noopener">Temporal Web UI</a>
          <a href="/api/v1/devices">API</a>
        </header>
        <main>
          <form class="add" hx-post="/ui/devices" hx-target="#devices" hx-swap="innerHTML">
            <label>Name ${nameInput()}</label>
            <label
              >MCU
              <select name="mcuType">
                ${MCU_TYPES.map((t) => html`<option value="${t}" ${raw(t === DEFAULT_MCU_TYPE ? 'selected' : '')}>${t}</option>`)}
              </select>
            </label>
            <button type="submit" id="add-device">Add device</button>
          </form>
          <table>
            <thead>
              <tr>
                <th>Device</th>
                <th>MCU</th>
                <th>Phase</th>
                <th>Provisioning steps</th>
                <th>Gateway</th>
                <th>Last heartbeat</th>
                <th>Workflow</th>
                <th></th>
              </tr>
            </thead>
            <tbody id="devices" hx-get="/ui/devices" hx-trigger="every 1s" hx-swap="innerHTML">
              ${deviceRows(ctx, devices)}
            </tbody>
          </table>
        </main>
      </body>
    </html>`.value;
}

function suggestName(): string {
  return `stm32f7-${Math.random().toString(36).slice(2, 6)}`;
}

/** The name field, pre-filled with a fresh suggestion; `oob` replaces it in place after an add. */
export function nameInput(oob = false): RawHtml {
  return html`<input
    id="device-name"
    name="name"
    value="${suggestName()}"
    required
    pattern="[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    ${raw(oob ? 'hx-swap-oob="true"' : '')}
  />`;
}

function stepChips(steps: ProvisioningStep[] | undefined): RawHtml {
  if (!steps) return html``;
  return html`<div class="steps">
    ${steps.map(
      (s) =>
        html`<span
          class="step ${s.state}"
          data-step="${s.name}"
          data-state="${s.state}"
          title="${s.message ?? s.state}"
          >${s.name}</span
        >`,
    )}
  </div>`;
}

export function deviceRows(ctx: DashboardContext, devices: Device[], error?: string): RawHtml {
  const errorRow = error
    ? html`<tr>
        <td colspan="8" class="error" role="alert">${error}</td>
      </tr>`
    : html``;
  if (devices.length === 0) {
    return html`${errorRow}
      <tr>
        <td colspan="8">No devices yet. Press “Add device”.</td>
      </tr>`;
  }
  return html`${errorRow}${devices.map((d) => deviceRow(ctx, d))}`;
}

function deviceRow(ctx: DashboardContext, d: Device): RawHtml {
  const name = d.metadata.name;
  const workflowId = d.status.workflowId;
  return html`<tr id="device-${name}" data-device="${name}" data-phase="${d.status.phase}">
    <td>${name}</td>
    <td>${d.spec.mcuType}</td>
    <td>
      <span class="phase ${d.status.phase}">${d.status.phase}</span>
      ${d.status.message ? html`<div class="msg">${d.status.message}</div>` : ''}
    </td>
    <td>${stepChips(d.status.steps)}</td>
    <td>${d.status.gateway?.name ?? ''}</td>
    <td>${d.status.lastHeartbeat ?? ''}</td>
    <td>
      ${workflowId ? html`<a href="${ctx.workflowUrl(workflowId)}" target="_blank" rel="noopener">${workflowId}</a>` : ''}
    </td>
    <td>
      ${
        d.status.phase === 'Failed'
          ? html`<button hx-post="/ui/devices/${encodeURIComponent(name)}/retry" hx-target="#devices">
              Retry
            </button>`
          : ''
      }
      ${
        d.status.phase !== 'Deprovisioning'
          ? html`<button
              hx-post="/ui/devices/${encodeURIComponent(name)}/delete"
              hx-target="#devices"
              hx-confirm="Delete ${name}?"
            >
              Delete
            </button>`
          : ''
      }
    </td>
  </tr>`;
}
