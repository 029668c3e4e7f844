/** The devices page: the add and bulk-add forms, the filters and the devices table. */
import { MCU_TYPES, DEFAULT_MCU_TYPE } from '../../common/mcu-profiles.js';
import { DEVICE_PHASES, type Device, type Gateway, type ProvisioningStep } from '../../common/resources.js';
import { DNS_LABEL_HTML_PATTERN } from '../../common/names.js';
import { html, raw, type RawHtml } from '../html.js';
import type { KeyedRows } from '../live.js';
import { labelText, layout, type DashboardContext } from './layout.js';

export interface DeviceFilter {
  phase?: string;
  /** `key=value` */
  label?: string;
  gateway?: string;
}

/** The devices filter from a query string (the page, its stream, the API's list). */
export function deviceFilter(query: Record<string, unknown>): DeviceFilter {
  const pick = (k: string) => (typeof query[k] === 'string' && query[k] ? (query[k] as string) : undefined);
  return { phase: pick('phase'), label: pick('label'), gateway: pick('gateway') };
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
    pattern="${DNS_LABEL_HTML_PATTERN}"
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
          <input name="prefix" value="sim" size="8" required pattern="${DNS_LABEL_HTML_PATTERN}"
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
