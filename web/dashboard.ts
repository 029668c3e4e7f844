/**
 * The HTMX dashboard's frame and its devices table: server-rendered pages and fragments. Live
 * updates arrive over server-sent events (web/live.ts) as fragments for element ids; every
 * value interpolated through html`` is escaped.
 */
import { MCU_TYPES, DEFAULT_MCU_TYPE } from '../common/mcu-profiles.js';
import { DEVICE_PHASES, type Device, type Gateway, type ProvisioningStep } from '../common/resources.js';
import { html, raw, type RawHtml } from './html.js';
import type { KeyedRows } from './live.js';

export interface DashboardContext {
  csrfToken: string;
  workflowUrl: (workflowId: string) => string;
  temporalUiUrl: string;
}

export interface DeviceFilter {
  phase?: string;
  /** `key=value` */
  label?: string;
  gateway?: string;
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:20px;align-items:center;flex-wrap:wrap}
header a{color:#9cc3ff;text-decoration:none}header a.current{color:#fff;font-weight:600;border-bottom:2px solid #9cc3ff}
header .live{margin-left:auto;font-size:12px;color:#aaa}
body[data-live=on] header .live::before{content:"● live";color:#6fdc8c}
body[data-live=off] header .live::before{content:"● reconnecting";color:#ffb74d}
main{padding:20px 24px}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:6px 10px;border-bottom:1px solid #e3e6ea;text-align:left;font-size:13px;vertical-align:top}
.phase,.chip{padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap;background:#eee}
.Pending{background:#eee}.Provisioning,.Deploying,.Running.step,.degraded{background:#fff3c4}
.Connected,.Running,.Ready,.ok,.Succeeded{background:#c9f2d0}
.Disconnected,.Unreachable,.PartiallyRunning,.unknown{background:#ffe0b3}
.Failed,.RolledBack,.down,.Unavailable,.TimedOut{background:#ffc9c9}.Deprovisioning,.Stopped,.Exited,.Canceled{background:#dde3ff}
.steps{display:flex;gap:4px;flex-wrap:wrap}.step{font-size:11px;padding:1px 6px;border-radius:8px;background:#eee}
.step.Running{background:#fff3c4}.step.Succeeded{background:#c9f2d0}.step.Failed{background:#ffc9c9}
form.add,form.filters{display:flex;gap:8px;margin-bottom:12px;align-items:center;flex-wrap:wrap}
.error{color:#b00020;margin:8px 0}.msg{color:#8a1c1c;font-size:12px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:16px}
.card{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:12px 16px;overflow:auto;min-width:0}
.card h2{margin-top:0}
.bar{display:flex;height:14px;border-radius:7px;overflow:hidden;background:#eee;margin:6px 0}
.bar span{display:block;height:100%}
.counts a{margin-right:10px;text-decoration:none;color:inherit}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}dl.kv dt{color:#667}dl.kv dd{margin:0;font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.timeline{list-style:none;padding:0;margin:0}.timeline li{display:flex;gap:10px;align-items:baseline;padding:4px 0;border-bottom:1px dashed #e3e6ea;font-size:13px}
.timeline .when{color:#667;font-size:11px;font-family:ui-monospace,monospace}
#log-lines{background:#10141c;color:#d6dde8;font-family:ui-monospace,monospace;font-size:12px;height:320px;overflow:auto;padding:8px;border-radius:6px;white-space:pre-wrap}
.log-time{color:#7d8899;margin-right:8px}.log-src{color:#8fc1ff;margin-right:8px}.log-line.publish .log-msg{color:#b9f6ca}
.actions{display:flex;gap:8px;margin:8px 0}
button[disabled]{cursor:not-allowed;opacity:.6}
progress{width:240px}
svg text{font-size:11px;font-family:system-ui,sans-serif}
button{cursor:pointer}`;

const NAV: [string, string][] = [
  ['/', 'Overview'],
  ['/devices', 'Devices'],
  ['/topology', 'Topology'],
  ['/gateways', 'Gateways'],
  ['/applications', 'Applications'],
  ['/enrollments', 'Enrollments'],
];

/** The page frame: nav, htmx, the live script and the SSE stream this page listens to. */
export function layout(
  ctx: DashboardContext,
  page: { title: string; path: string; stream?: string; body: RawHtml },
): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>${page.title} · Wasmbed</title>
        <script src="/assets/htmx.min.js"></script>
        <script src="/assets/wasmbed.js" defer></script>
        <style>
          ${raw(STYLE)}
        </style>
      </head>
      <body
        hx-headers="${JSON.stringify({ 'X-CSRF-Token': ctx.csrfToken })}"
        data-stream="${page.stream ?? ''}"
      >
        <header>
          <strong>Wasmbed</strong>
          ${NAV.map(
            ([href, label]) =>
              html`<a href="${href}" class="${href === page.path ? 'current' : ''}">${label}</a>`,
          )}
          <a href="${ctx.temporalUiUrl}" target="_blank" rel="noopener">Temporal Web UI</a>
          <a href="/api/v1/openapi.json">API</a>
          <span class="live" title="live updates over server-sent events"></span>
        </header>
        <main>
          <div id="live-problem" class="error" role="status"></div>
          ${page.body}
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

const mcuSelect = () =>
  html`<select name="mcuType">
    ${MCU_TYPES.map((t) => html`<option value="${t}" ${raw(t === DEFAULT_MCU_TYPE ? 'selected' : '')}>${t}</option>`)}
  </select>`;

export function addDeviceForm(): RawHtml {
  return html`<form class="add" hx-post="/ui/devices" hx-target="#devices" hx-swap="innerHTML">
    <label>Name ${nameInput()}</label>
    <label>MCU ${mcuSelect()}</label>
    <label>Labels <input name="labels" placeholder="group=lab,site=a" size="18" /></label>
    <label>Gateway <input name="gateway" placeholder="any" size="10" /></label>
    <button type="submit" id="add-device">Add device</button>
  </form>`;
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

const COLUMNS = 9;

export function deviceTableHead(): RawHtml {
  return html`<thead>
    <tr>
      <th>Device</th>
      <th>MCU</th>
      <th>Labels</th>
      <th>Phase</th>
      <th>Provisioning steps</th>
      <th>Gateway</th>
      <th>Last heartbeat</th>
      <th>Workflow</th>
      <th></th>
    </tr>
  </thead>`;
}

export function deviceRows(ctx: DashboardContext, devices: Device[], error?: string): RawHtml {
  const errorRow = error
    ? html`<tr data-notice>
        <td colspan="${COLUMNS}" class="error" role="alert">${error}</td>
      </tr>`
    : html``;
  if (devices.length === 0) {
    return html`${errorRow}
      <tr>
        <td colspan="${COLUMNS}">No devices here yet. Press “Add device”.</td>
      </tr>`;
  }
  return html`${errorRow}${devices.map((d) => deviceRow(ctx, d))}`;
}

/** The same rows keyed by element id, for live updates that send only changed rows. */
export function deviceRowsKeyed(ctx: DashboardContext, devices: Device[]): KeyedRows {
  return {
    rows: devices.map((d) => [`device-${d.metadata.name}`, deviceRow(ctx, d).value]),
    empty: deviceRows(ctx, []).value,
  };
}

export const labelText = (labels: Record<string, string> | undefined) =>
  Object.entries(labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

function deviceRow(ctx: DashboardContext, d: Device): RawHtml {
  const name = d.metadata.name;
  const workflowId = d.status.workflowId;
  const path = `/ui/devices/${encodeURIComponent(name)}`;
  return html`<tr id="device-${name}" data-device="${name}" data-phase="${d.status.phase}">
    <td><a class="device-link" href="/devices/${encodeURIComponent(name)}">${name}</a></td>
    <td>${d.spec.mcuType}</td>
    <td>${labelText(d.metadata.labels)}</td>
    <td>
      <span class="phase ${d.status.phase}">${d.status.phase}</span>
      ${d.status.message ? html`<div class="msg">${d.status.message}</div>` : ''}
    </td>
    <td>${stepChips(d.status.steps)}</td>
    <td>${d.status.gateway?.name ?? ''}</td>
    <td>${d.status.lastHeartbeat ?? ''}</td>
    <td>
      ${
        workflowId
          ? html`<a class="workflow" href="${ctx.workflowUrl(workflowId)}" target="_blank" rel="noopener"
              >${workflowId}</a
            >`
          : ''
      }
    </td>
    <td>
      ${
        d.status.phase === 'Failed'
          ? html`<button hx-post="${path}/retry" hx-target="#devices">Retry</button>`
          : ''
      }
      ${
        d.status.phase !== 'Deprovisioning'
          ? html`<button hx-post="${path}/delete" hx-target="#devices" hx-confirm="Delete ${name}?">
              Delete
            </button>`
          : ''
      }
    </td>
  </tr>`;
}

/** Applies the devices page's filters. */
export function filterDevices(devices: Device[], filter: DeviceFilter): Device[] {
  const [key, value] = filter.label ? filter.label.split('=', 2) : [];
  return devices.filter(
    (d) =>
      (!filter.phase || d.status.phase === filter.phase) &&
      (!filter.gateway || (d.status.gateway?.name ?? d.spec.gateway) === filter.gateway) &&
      (!key || (d.metadata.labels ?? {})[key.trim()] === (value ?? '').trim()),
  );
}

export function filterQuery(filter: DeviceFilter): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export interface BulkJob {
  id: string;
  prefix: string;
  names: string[];
  created: number;
  errors: string[];
  startedAt: number;
  finishedAt?: number;
}

export function bulkProgress(jobs: BulkJob[], devices: Device[]): RawHtml {
  if (jobs.length === 0) return html``;
  const phase = new Map(devices.map((d) => [d.metadata.name, d.status.phase]));
  return html`${jobs.map((job) => {
    const connected = job.names.filter((n) => phase.get(n) === 'Connected').length;
    const failed = job.names.filter((n) => phase.get(n) === 'Failed').length;
    const total = job.names.length;
    return html`<div class="bulk" data-bulk="${job.id}" data-connected="${connected}" data-total="${total}">
      <strong>${job.prefix}-1…${total}</strong>
      <label
        >created
        <progress class="created" max="${total}" value="${job.created}"></progress>
        ${job.created}/${total}</label
      >
      <label
        >connected
        <progress class="connected" max="${total}" value="${connected}"></progress>
        ${connected}/${total}</label
      >
      ${failed ? html`<span class="phase Failed">${failed} failed</span>` : ''}
      ${job.errors.length ? html`<div class="msg">${job.errors.slice(0, 3).join('; ')}</div>` : ''}
    </div>`;
  })}`;
}

export function devicesPage(
  ctx: DashboardContext,
  devices: Device[],
  gateways: Gateway[],
  filter: DeviceFilter,
  jobs: BulkJob[],
): string {
  const shown = filterDevices(devices, filter);
  const gatewayNames = [
    ...new Set([
      ...gateways.map((g) => g.metadata.name),
      ...devices.map((d) => d.status.gateway?.name).filter((g): g is string => !!g),
    ]),
  ];
  return layout(ctx, {
    title: 'Devices',
    path: '/devices',
    stream: `/ui/stream/devices${filterQuery(filter)}`,
    body: html`<h1>Devices</h1>
      ${addDeviceForm()}
      <form class="add" hx-post="/ui/devices/bulk" hx-target="#bulk" hx-swap="innerHTML">
        <label
          >Bulk: prefix
          <input name="prefix" value="sim" size="8" required pattern="[a-z0-9]([-a-z0-9]*[a-z0-9])?"
        /></label>
        <label>count <input name="count" type="number" min="1" max="500" value="10" size="4" /></label>
        <label>MCU ${mcuSelect()}</label>
        <label>Labels <input name="labels" placeholder="group=lab" size="12" /></label>
        <button type="submit" id="bulk-create">Create devices</button>
      </form>
      <div id="bulk">${bulkProgress(jobs, devices)}</div>
      <form class="filters" method="get" action="/devices">
        <label
          >Phase
          <select name="phase">
            <option value="">any</option>
            ${DEVICE_PHASES.map(
              (p) => html`<option value="${p}" ${raw(p === filter.phase ? 'selected' : '')}>${p}</option>`,
            )}
          </select></label
        >
        <label
          >Label <input name="label" value="${filter.label ?? ''}" placeholder="key=value" size="14"
        /></label>
        <label
          >Gateway
          <select name="gateway">
            <option value="">any</option>
            ${gatewayNames.map(
              (g) => html`<option value="${g}" ${raw(g === filter.gateway ? 'selected' : '')}>${g}</option>`,
            )}
          </select></label
        >
        <button type="submit" id="apply-filter">Filter</button>
        <a href="/devices">clear</a>
        <span id="device-count">${shown.length} of ${devices.length}</span>
      </form>
      <table>
        ${deviceTableHead()}
        <tbody id="devices">
          ${deviceRows(ctx, shown)}
        </tbody>
      </table>`,
  });
}
