/** The overview page: devices by phase, the health of every process, recent failures and devices. */
import { DEVICE_PHASES, type Device } from '../../common/resources.js';
import type { HealthSnapshot } from '../health.js';
import { html, raw, type RawHtml } from '../html.js';
import { fragmentHtml, type KeyedRows } from '../view-diff.js';
import { addDeviceForm, deviceRowsKeyed, deviceTableHead } from './devices.js';
import { PHASE_COLOURS, layout, phaseCountLinks, type DashboardContext } from './layout.js';

export interface RecentFailure {
  kind: 'Device' | 'Application' | 'Workflow';
  name: string;
  message: string;
  href?: string;
  external?: boolean;
  time?: string;
}

export function phaseSummary(devices: Device[]): RawHtml {
  const counts: Record<string, number> = {};
  for (const d of devices) counts[d.status.phase] = (counts[d.status.phase] ?? 0) + 1;
  const total = devices.length || 1;
  return html`<div class="bar" aria-hidden="true">
      ${DEVICE_PHASES.filter((p) => counts[p]).map(
        (p) =>
          html`<span
            style="width:${((counts[p]! / total) * 100).toFixed(2)}%;background:${PHASE_COLOURS[p] ?? '#999'}"
          ></span>`,
      )}
    </div>
    <div class="counts">
      <strong>${devices.length} devices</strong>
      ${phaseCountLinks(counts, (p) => `/devices?phase=${p}`)}
    </div>`;
}

export function healthTable(health: HealthSnapshot): RawHtml {
  if (!health.checkedAt) return html`<p>Checking…</p>`;
  return html`<table>
      <thead>
        <tr>
          <th>Process</th>
          <th>Status</th>
          <th>Detail</th>
          <th>Metrics</th>
        </tr>
      </thead>
      <tbody>
        ${health.processes.map(
          (p) =>
            html`<tr data-process="${p.name}" data-kind="${p.kind}" data-status="${p.status}">
              <td><strong>${p.name}</strong> <small>${p.kind}</small></td>
              <td><span class="chip ${p.status}">${p.status}</span></td>
              <td>${p.detail}</td>
              <td>
                <small
                  >${Object.entries(p.metrics ?? {})
                    .filter(([k]) => !k.endsWith('_bytes') || k === 'rss_bytes')
                    .slice(0, 8)
                    .map(([k, v]) => `${k}=${k.endsWith('_bytes') ? `${Math.round(v / 1048576)}MiB` : v}`)
                    .join(' ')}</small
                >
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <small>checked ${health.checkedAt}</small>`;
}

export function failuresList(failures: RecentFailure[]): RawHtml {
  if (failures.length === 0) return html`<p>No recent failures.</p>`;
  return html`<ul class="failures">
    ${failures.map(
      (f) =>
        html`<li data-failure="${f.kind}:${f.name}">
          <span class="phase Failed">${f.kind}</span>
          ${
            f.href
              ? html`<a href="${f.href}" ${raw(f.external ? 'target="_blank" rel="noopener"' : '')}
                  >${f.name}</a
                >`
              : f.name
          }
          — <span class="msg">${f.message}</span> ${f.time ? html`<small>${f.time}</small>` : ''}
        </li>`,
    )}
  </ul>`;
}

/** The ten most recently created devices, newest first, for the overview's quick view. */
export function recentDevices(devices: Device[]): Device[] {
  return [...devices]
    .sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''))
    .slice(0, 10);
}

/**
 * The overview's live fragments. The recent devices are keyed rows: each of them heartbeats, and
 * as one string the whole table went out again on every heartbeat (about 11 kB an event, several
 * a second, with 300 devices); keyed, a heartbeat sends its own row.
 */
export function overviewFragments(
  ctx: DashboardContext,
  devices: Device[],
  health: HealthSnapshot,
  failures: RecentFailure[],
): { 'phase-summary': string; health: string; failures: string; devices: KeyedRows } {
  return {
    'phase-summary': phaseSummary(devices).value,
    health: healthTable(health).value,
    failures: failuresList(failures).value,
    devices: deviceRowsKeyed(ctx, recentDevices(devices)),
  };
}

export type OverviewFragments = ReturnType<typeof overviewFragments>;

/** The page around its live fragments (rendered once for the page and its stream's start). */
export function overviewPage(ctx: DashboardContext, f: OverviewFragments, stream: string): string {
  return layout(ctx, {
    title: 'Overview',
    path: '/',
    stream,
    body: html`<h1>Overview</h1>
      <div class="cards">
        <section class="card">
          <h2>Devices by phase</h2>
          <div id="phase-summary">${raw(f['phase-summary'])}</div>
        </section>
        <section class="card">
          <h2>Recent failures</h2>
          <div id="failures">${raw(f.failures)}</div>
        </section>
      </div>
      <section class="card" style="margin-top:16px">
        <h2>Processes: health and metrics</h2>
        <div id="health">${raw(f.health)}</div>
      </section>
      <h2>Recently added devices</h2>
      ${addDeviceForm()}
      <table>
        ${deviceTableHead()}
        <tbody id="devices">
          ${raw(fragmentHtml(f.devices))}
        </tbody>
      </table>`,
  });
}
