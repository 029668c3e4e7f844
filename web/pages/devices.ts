/** The devices page: the add and bulk-add forms, the filters and the devices table. */
import { MCU_TYPES, DEFAULT_MCU_TYPE } from '../../common/mcu-profiles.js';
import {
  APP_DEVICE_STATES,
  DEVICE_PHASES,
  DEVICE_RUNTIMES,
  type Device,
  type ProvisioningStep,
} from '../../common/resources.js';
import { MAX_BATCH_DEVICES } from '../../common/schemas.js';
import { BATCH_LABEL } from '../../services/device-batch-service.js';
import { MAX_LIST_LIMIT, type ListPage, type ListQuery } from '../../store/list-query.js';
import { listQuery, listQueryString } from '../list-params.js';
import type { RecentBatch } from '../recent-batches.js';
import { DNS_LABEL_HTML_PATTERN } from '../../common/names.js';
import { escapeHtml, html, raw, type RawHtml } from '../html.js';
import {
  cellSlot,
  fragmentHtml,
  rowHtml,
  type Fragments,
  type KeyedRow,
  type KeyedRows,
} from '../view-diff.js';
import { labelText, layout, phaseCountLinks, type DashboardContext } from './layout.js';

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

/** The table's head; filtered by an application (`app`), a column of its state on each device. */
export function deviceTableHead(app?: string): RawHtml {
  return html`<thead>
    <tr>
      <th>Device</th>
      <th>MCU</th>
      <th>Labels</th>
      <th>Phase</th>
      ${app ? html`<th data-app-column="${app}">${app}</th>` : ''}
      <th>Provisioning steps</th>
      <th>Gateway</th>
      <th>Last heartbeat</th>
      <th>Workflow</th>
      <th></th>
    </tr>
  </thead>`;
}

/** Whether a list query narrows the fleet (paging alone does not). */
function isFiltered(query: ListQuery): boolean {
  return Object.entries(query).some(
    ([k, v]) => k !== 'limit' && k !== 'continue' && v !== undefined && v !== '',
  );
}

/**
 * What an empty table says: with filters, that nothing matches them — "No devices here yet" on
 * /devices?phase=Failed of a 300-device fleet read as if the fleet were gone.
 */
function emptyText(filtered: boolean): string {
  return filtered ? 'No device matches these filters.' : 'No devices here yet. Press “Add device”.';
}

/**
 * The rows of a list `query` selected (none: the overview's recent devices). Filtered by an
 * application, each row shows its state there (deviceTableHead's extra column).
 */
export function deviceRows(
  ctx: DashboardContext,
  devices: Device[],
  error?: string,
  query: ListQuery = {},
): RawHtml {
  const columns = COLUMNS + (query.app ? 1 : 0);
  const errorRow = error
    ? html`<tr data-notice>
        <td colspan="${columns}" class="error" role="alert">${error}</td>
      </tr>`
    : html``;
  if (devices.length === 0) {
    return html`${errorRow}
      <tr>
        <td colspan="${columns}">${emptyText(isFiltered(query))}</td>
      </tr>`;
  }
  return html`${errorRow}${raw(devices.map((d) => rowHtml(deviceRow(ctx, d, query.app))).join(''))}`;
}

/** The same rows keyed by element id, for live updates that send only changed rows. */
export function deviceRowsKeyed(ctx: DashboardContext, devices: Device[], query: ListQuery = {}): KeyedRows {
  return {
    rows: devices.map((d) => deviceRow(ctx, d, query.app)),
    empty: deviceRows(ctx, [], undefined, query).value,
  };
}

/** The application's state on the device, with its error (why it Failed) under it. */
function appCell(d: Device, app: string): RawHtml {
  const entry = d.status.apps?.[app] as { state?: string; error?: string | null } | undefined;
  if (!entry?.state) return html`<td></td>`;
  return html`<td data-app-state="${entry.state}">
    <span class="step ${entry.state}">${entry.state}</span>
    ${entry.error ? html`<div class="msg">${entry.error}</div>` : ''}
  </td>`;
}

/**
 * A device's row. Its last heartbeat is a cell of its own: the gateway writes it every ~15 s per
 * device, and as part of the row each write sent the whole ~2 kB row again (most of a /devices
 * stream with a fleet heartbeating); as a cell it travels alone (~60 B).
 */
function deviceRow(ctx: DashboardContext, d: Device, app?: string): KeyedRow {
  return [
    `device-${d.metadata.name}`,
    deviceRowHtml(ctx, d, app).value,
    { seen: escapeHtml(d.status.lastHeartbeat ?? '') },
  ];
}

function deviceRowHtml(ctx: DashboardContext, d: Device, app?: string): RawHtml {
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
    ${app ? appCell(d, app) : ''}
    <td>${stepChips(d.status.steps)}</td>
    <td>${d.status.gateway?.name ?? ''}</td>
    <td data-cell="seen">${raw(cellSlot('seen'))}</td>
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

/** Page sizes the devices page offers; the API takes any limit up to MAX_LIST_LIMIT. */
export const DEVICE_PAGE_SIZES = [25, 50, 100, 200] as const;
export const DEFAULT_DEVICE_PAGE_SIZE = 50;

/**
 * The sizes the menu offers, with the page's own when a URL asked for another (limit=7): else
 * the menu showed 25 over 7 rows, and pressing Filter turned the page into 25 rows.
 */
function pageSizes(current: number | undefined): number[] {
  const sizes: number[] = [...DEVICE_PAGE_SIZES];
  if (current !== undefined && !sizes.includes(current)) sizes.push(current);
  return sizes.sort((a, b) => a - b);
}

/** The devices page's query from its URL: the API's list parameters, 50 rows unless it says otherwise. */
export function devicesPageQuery(query: Record<string, unknown>): ListQuery {
  const q = listQuery(query);
  return {
    ...q,
    limit: q.limit && q.limit > 0 ? Math.min(q.limit, MAX_LIST_LIMIT) : DEFAULT_DEVICE_PAGE_SIZE,
  };
}

/** What the devices page shows: one page of the filtered list and the counts around it. */
export interface DevicesView {
  query: ListQuery;
  page: ListPage<Device>;
  /** Devices matching the filters other than phase, by phase (for the phase menu). */
  byPhase: Record<string, number>;
  /** Devices matching every filter, on all pages. */
  matching: number;
  /** Every device. */
  total: number;
  gatewayNames: string[];
  /** Why the query could not run (a bad selector, a stale token): shown instead of rows. */
  error?: string;
}

/** "Showing 51–100 of 300 matching (1,000 devices)", and links to the first and the next page. */
export function devicePager(view: DevicesView): RawHtml {
  if (view.error) return html`<span class="error" role="alert">${view.error}</span>`;
  const { page, query, matching, total } = view;
  const remaining = page.metadata.remainingItemCount ?? 0;
  const from = matching - remaining - page.items.length + 1;
  const to = from + page.items.length - 1;
  const base = { ...query, continue: undefined };
  const next = page.metadata.continue;
  return html`<span class="pager">
    ${page.items.length ? `${from}–${to} of ${matching}` : `0 of ${matching}`} matching
    ${matching !== total ? html`<small>(${total} devices)</small>` : ''}
    ${query.continue ? html`<a id="first-page" href="/devices${listQueryString(base)}">« first</a>` : ''}
    ${next ? html`<a id="next-page" href="/devices${listQueryString({ ...base, continue: next })}">next »</a>` : ''}
  </span>`;
}

/** The devices of recent batches by phase, with a bar of how many are Connected. */
export function bulkProgress(batches: RecentBatch[]): RawHtml {
  if (batches.length === 0) return html``;
  return html`${batches.map((b) => {
    const connected = b.counts.Connected ?? 0;
    return html`<div class="bulk" data-bulk="${b.name}" data-connected="${connected}" data-total="${b.total}">
      <strong
        ><a href="/devices?labelSelector=${encodeURIComponent(`${BATCH_LABEL}=${b.name}`)}"
          >${b.title}</a
        ></strong
      >
      <label
        >connected
        <progress class="connected" max="${b.total}" value="${connected}"></progress>
        ${connected}/${b.total}</label
      >
      ${Object.entries(b.counts)
        .filter(([phase, n]) => phase !== 'Connected' && n)
        .map(([phase, n]) => html`<span class="phase ${phase}">${n} ${phase}</span> `)}
      ${b.error ? html`<div class="msg">${b.error}</div>` : ''}
    </div>`;
  })}`;
}

const select = (name: string, options: readonly string[], current: string | number | undefined, any = true) =>
  html`<select name="${name}">
    ${any ? html`<option value="">any</option>` : ''}
    ${options.map(
      (o) => html`<option value="${o}" ${raw(String(current ?? '') === o ? 'selected' : '')}>${o}</option>`,
    )}
  </select>`;

/**
 * The devices page's live fragments: its rows, the batches' bars, the pager and the counts per
 * phase (of the devices the other filters select), rendered once for the page and its stream.
 */
export function devicesFragments(
  ctx: DashboardContext,
  view: DevicesView,
  batches: RecentBatch[],
): Fragments {
  const { query } = view;
  const phaseHref = (phase: string) =>
    `/devices${listQueryString({ ...query, phase: query.phase === phase ? undefined : phase, continue: undefined })}`;
  return {
    devices: deviceRowsKeyed(ctx, view.page.items, query),
    bulk: bulkProgress(batches).value,
    'device-pager': devicePager(view).value,
    'phase-counts': phaseCountLinks(view.byPhase, phaseHref, query.phase).value,
  };
}

/** The names the app menu offers, with the query's own when its application is gone (as pageSizes). */
function appNames(applications: string[], current: string | undefined): string[] {
  return current && !applications.includes(current) ? [...applications, current].sort() : applications;
}

/**
 * The page. `applications` (names) fill the app menu; they are read for the page only, not for
 * each render of its stream (the form is not a live fragment).
 */
export function devicesPage(
  ctx: DashboardContext,
  view: DevicesView,
  f: Fragments,
  stream: string,
  applications: string[] = [],
): string {
  const { query } = view;
  return layout(ctx, {
    title: 'Devices',
    path: '/devices',
    stream,
    body: html`<h1>Devices</h1>
      ${addDeviceForm()}
      <form class="add" hx-post="/ui/devices/bulk" hx-target="#bulk" hx-swap="innerHTML">
        <label
          >Bulk: prefix
          <input name="prefix" value="sim" size="8" required pattern="${DNS_LABEL_HTML_PATTERN}"
        /></label>
        <label
          >count <input name="count" type="number" min="1" max="${MAX_BATCH_DEVICES}" value="10" size="4"
        /></label>
        <label>MCU ${mcuSelect()}</label>
        <label>Labels <input name="labels" placeholder="group=lab" size="12" /></label>
        <button type="submit" id="bulk-create">Create devices</button>
      </form>
      <div id="bulk">${raw(fragmentHtml(f.bulk!))}</div>
      <form class="filters" method="get" action="/devices">
        <label>Phase ${select('phase', DEVICE_PHASES, query.phase)}</label>
        <label>Runtime ${select('runtime', DEVICE_RUNTIMES, query.runtime)}</label>
        <label>Gateway ${select('gateway', view.gatewayNames, query.gateway)}</label>
        <label title="devices that have this application (in any state, unless one is chosen)"
          >App ${select('app', appNames(applications, query.app), query.app)}</label
        >
        <label>App state ${select('appState', APP_DEVICE_STATES, query.appState)}</label>
        <label
          >Labels
          <input
            name="labelSelector"
            value="${query.labelSelector ?? ''}"
            placeholder="group=lab,site!=b"
            size="16"
        /></label>
        <label
          >Name starts with
          <input name="namePrefix" value="${query.namePrefix ?? ''}" placeholder="sim-" size="10"
        /></label>
        <label>Per page ${select('limit', pageSizes(query.limit).map(String), query.limit, false)}</label>
        <button type="submit" id="apply-filter">Filter</button>
        <a href="/devices">clear</a>
        <span id="device-pager">${raw(fragmentHtml(f['device-pager']!))}</span>
      </form>
      <div class="counts" id="phase-counts" title="devices the other filters select, by phase">
        ${raw(fragmentHtml(f['phase-counts']!))}
      </div>
      <table>
        ${deviceTableHead(query.app)}
        <tbody id="devices">
          ${raw(fragmentHtml(f.devices!))}
        </tbody>
      </table>`,
  });
}
