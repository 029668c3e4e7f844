/**
 * Dashboard pages beyond the devices table: overview, device detail, topology and gateways
 * (applications: web/applications-page.ts). Each page is a frame (layout) around fragments with element ids; the same
 * fragment functions feed the page's server-sent-event stream.
 */
import { DEVICE_PHASES, type Application, type Device, type Gateway } from '../common/resources.js';
import type { DeviceLogEntry } from '../store/device-logs.js';
import { lifecycleWorkflowId } from '../workflows/provisioning-steps.js';
import {
  addDeviceForm,
  deviceRows,
  deviceTableHead,
  labelText,
  layout,
  type DashboardContext,
} from './dashboard.js';
import type { HealthSnapshot } from './health.js';
import { html, raw, type RawHtml } from './html.js';
import type { Timeline, TimelineEntry } from './timeline.js';

export const PHASE_COLOURS: Record<string, string> = {
  Pending: '#9e9e9e',
  Provisioning: '#f9a825',
  Connected: '#2e7d32',
  Disconnected: '#ef6c00',
  Unreachable: '#d84315',
  Failed: '#c62828',
  Deprovisioning: '#3949ab',
};

export interface RecentFailure {
  kind: 'Device' | 'Application' | 'Workflow';
  name: string;
  message: string;
  href?: string;
  external?: boolean;
  time?: string;
}

// ---- overview -------------------------------------------------------------------------

export function phaseSummary(devices: Device[]): RawHtml {
  const counts = new Map<string, number>();
  for (const d of devices) counts.set(d.status.phase, (counts.get(d.status.phase) ?? 0) + 1);
  const total = devices.length || 1;
  return html`<div class="bar" aria-hidden="true">
      ${DEVICE_PHASES.filter((p) => counts.get(p)).map(
        (p) =>
          html`<span
            style="width:${((counts.get(p)! / total) * 100).toFixed(2)}%;background:${PHASE_COLOURS[p] ?? '#999'}"
          ></span>`,
      )}
    </div>
    <div class="counts">
      <strong>${devices.length} devices</strong>
      ${DEVICE_PHASES.map(
        (p) =>
          html`<a href="/devices?phase=${p}" data-phase-count="${p}" data-count="${counts.get(p) ?? 0}"
            ><span class="phase ${p}">${p}</span> ${counts.get(p) ?? 0}</a
          >`,
      )}
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

export function overviewFragments(
  ctx: DashboardContext,
  devices: Device[],
  health: HealthSnapshot,
  failures: RecentFailure[],
): Record<string, string> {
  return {
    'phase-summary': phaseSummary(devices).value,
    health: healthTable(health).value,
    failures: failuresList(failures).value,
    devices: deviceRows(ctx, recentDevices(devices)).value,
  };
}

export function overviewPage(
  ctx: DashboardContext,
  devices: Device[],
  health: HealthSnapshot,
  failures: RecentFailure[],
): string {
  const f = overviewFragments(ctx, devices, health, failures);
  return layout(ctx, {
    title: 'Overview',
    path: '/',
    stream: '/ui/stream/overview',
    body: html`<h1>Overview</h1>
      <div class="cards">
        <section class="card">
          <h2>Devices by phase</h2>
          <div id="phase-summary">${raw(f['phase-summary']!)}</div>
        </section>
        <section class="card">
          <h2>Recent failures</h2>
          <div id="failures">${raw(f.failures!)}</div>
        </section>
      </div>
      <section class="card" style="margin-top:16px">
        <h2>Processes: health and metrics</h2>
        <div id="health">${raw(f.health!)}</div>
      </section>
      <h2>Recently added devices</h2>
      ${addDeviceForm()}
      <table>
        ${deviceTableHead()}
        <tbody id="devices">
          ${raw(f.devices!)}
        </tbody>
      </table>`,
  });
}

// ---- device detail --------------------------------------------------------------------

function when(entry: TimelineEntry): string {
  const start = entry.startedAt ? entry.startedAt.slice(11, 23) : '';
  if (!entry.startedAt || !entry.finishedAt) return start;
  return `${start} (${Date.parse(entry.finishedAt) - Date.parse(entry.startedAt)} ms)`;
}

function timelineList(entries: TimelineEntry[], kind: string): RawHtml {
  return html`<ol class="timeline" data-timeline="${kind}">
    ${entries.map(
      (s) =>
        html`<li data-step="${s.name}" data-state="${s.state}">
          <span class="step ${s.state}">${s.state}</span>
          <strong>${s.name}</strong>
          ${s.attempt && s.attempt > 1 ? html`<small>attempt ${s.attempt}</small>` : ''}
          <span class="when">${when(s)}</span>
          ${s.message ? html`<span class="msg">${s.message}</span>` : ''}
        </li>`,
    )}
  </ol>`;
}

export function timelineFragment(ctx: DashboardContext, device: Device, timeline: Timeline): RawHtml {
  const name = device.metadata.name;
  return html`<p data-source="${timeline.source}">
      ${
        timeline.source === 'history'
          ? html`From the history of workflow
              <a href="${ctx.workflowUrl(timeline.workflowId!)}" target="_blank" rel="noopener"
                >${timeline.workflowId}</a
              >
              (${timeline.workflowStatus ?? ''})`
          : html`From the device status (Temporal history unavailable).`
      }
    </p>
    ${timelineList(timeline.steps, 'provisioning')}
    <h3>Recovery</h3>
    ${
      timeline.recovery && timeline.recovery.length
        ? timelineList(timeline.recovery, 'recovery')
        : html`<p>No recovery activity.</p>`
    }
    <p>
      <a href="${ctx.workflowUrl(lifecycleWorkflowId(name))}" target="_blank" rel="noopener"
        >lifecycle workflow in Temporal Web UI</a
      >
    </p>`;
}

function actionButtons(device: Device): RawHtml {
  const path = `/ui/devices/${encodeURIComponent(device.metadata.name)}`;
  const phase = device.status.phase;
  const busy = phase === 'Deprovisioning' || phase === 'Provisioning' || phase === 'Pending';
  return html`<div class="actions">
    <button
      id="btn-retry"
      hx-post="${path}/retry"
      hx-swap="none"
      ${raw(phase === 'Failed' ? '' : 'disabled')}
      title="${phase === 'Failed' ? 'start a new provisioning run' : 'only a Failed device can be retried'}"
    >
      Retry
    </button>
    <button
      id="btn-restart"
      hx-post="${path}/restart"
      hx-swap="none"
      hx-confirm="Restart ${device.metadata.name}? This starts a new provisioning run."
      ${raw(busy ? 'disabled' : '')}
      title="starts a new provisioning run: every idempotent step runs again"
    >
      Restart
    </button>
    <button
      id="btn-rotate"
      hx-post="${path}/rotate-certificate"
      hx-swap="none"
      hx-confirm="Rotate the certificate of ${device.metadata.name}? The device reconnects; its apps keep running."
      ${raw(phase === 'Connected' ? '' : 'disabled')}
      title="issue a new certificate now; the device reconnects with it and its apps keep running"
    >
      Rotate certificate
    </button>
    <button
      id="btn-delete"
      hx-post="${path}/delete"
      hx-swap="none"
      hx-confirm="Delete ${device.metadata.name}?"
      ${raw(phase === 'Deprovisioning' ? 'disabled' : '')}
    >
      Delete
    </button>
  </div>`;
}

function summaryFragment(ctx: DashboardContext, device: Device): RawHtml {
  const s = device.status;
  return html`<div data-device="${device.metadata.name}" data-phase="${s.phase}">
    <span class="phase ${s.phase}" id="device-phase">${s.phase}</span>
    ${s.message ? html`<span class="msg">${s.message}</span>` : ''} ${actionButtons(device)}
    ${
      s.workflowId
        ? html`<a class="workflow" href="${ctx.workflowUrl(s.workflowId)}" target="_blank" rel="noopener"
            >${s.workflowId} in Temporal Web UI</a
          >`
        : ''
    }
  </div>`;
}

function statusFragment(device: Device): RawHtml {
  const s = device.status;
  return html`<dl class="kv">
      <dt>Phase</dt>
      <dd>${s.phase}</dd>
      <dt>Gateway</dt>
      <dd>${s.gateway ? `${s.gateway.name} (${s.gateway.endpoint})` : '—'}</dd>
      <dt>Last heartbeat</dt>
      <dd>${s.lastHeartbeat ?? '—'}</dd>
      <dt>Certificate serial</dt>
      <dd>${s.identity?.certSerial ?? '—'}</dd>
      <dt>SPKI SHA-256</dt>
      <dd>${s.identity?.spkiSha256 ?? '—'}</dd>
      <dt>Not after</dt>
      <dd>${s.identity?.notAfter ?? '—'}</dd>
      <dt>Firmware</dt>
      <dd>
        ${s.deviceInfo ? `${s.deviceInfo.firmwareVersion} (${s.deviceInfo.mcuType}, ${s.deviceInfo.freeMemory} B free)` : '—'}
      </dd>
      <dt>Observed generation</dt>
      <dd>${s.observedGeneration ?? '—'}</dd>
    </dl>
    <h3>Conditions</h3>
    ${
      s.conditions?.length
        ? html`<table>
            <thead>
              <tr>
                <th>Type</th>
                <th>Status</th>
                <th>Reason</th>
                <th>Message</th>
                <th>Since</th>
              </tr>
            </thead>
            <tbody>
              ${s.conditions.map(
                (c) =>
                  html`<tr>
                    <td>${c.type}</td>
                    <td>${c.status}</td>
                    <td>${c.reason}</td>
                    <td>${c.message}</td>
                    <td>${c.lastTransitionTime}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p>No conditions.</p>`
    }`;
}

function appsFragment(device: Device, apps: Application[]): RawHtml {
  const name = device.metadata.name;
  const rows = new Map<string, { state: string; error?: string | null; restarts?: number; since?: string }>();
  for (const a of apps) {
    const st = a.status.devices?.[name];
    if (st) rows.set(a.metadata.name, st);
  }
  for (const [appId, st] of Object.entries(device.status.apps ?? {})) {
    if (!rows.has(appId) && st && typeof st === 'object') rows.set(appId, st as { state: string });
  }
  if (rows.size === 0) return html`<p>No apps on this device.</p>`;
  return html`<table>
    <thead>
      <tr>
        <th>App</th>
        <th>State</th>
        <th>Restarts</th>
        <th>Since</th>
        <th>Error</th>
      </tr>
    </thead>
    <tbody>
      ${[...rows].map(
        ([appId, st]) =>
          html`<tr data-app="${appId}">
            <td><a href="/applications#app-${appId}">${appId}</a></td>
            <td><span class="chip ${st.state}">${st.state}</span></td>
            <td>${st.restarts ?? 0}</td>
            <td>${st.since ?? ''}</td>
            <td class="msg">${st.error ?? ''}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

export function logLines(entries: DeviceLogEntry[]): RawHtml {
  if (entries.length === 0) return html`<div class="log-empty">No output yet.</div>`;
  return html`${entries.map(
    (e) =>
      html`<div class="log-line ${e.kind}" data-log-id="${e.id}">
        <span class="log-time">${e.time.slice(11, 23)}</span><span class="log-src">${e.appId ?? 'uart'}</span
        ><span class="log-msg">${e.message}</span>
      </div>`,
  )}`;
}

export function deviceFragments(
  ctx: DashboardContext,
  device: Device | undefined,
  timeline: Timeline | undefined,
  apps: Application[],
): Record<string, string> {
  if (!device) {
    return {
      'device-summary': html`<div data-phase="Deleted">
        <span class="phase Stopped">Deleted</span> <a href="/devices">back to devices</a>
      </div>`.value,
    };
  }
  return {
    'device-summary': summaryFragment(ctx, device).value,
    'device-status': statusFragment(device).value,
    timeline: timeline ? timelineFragment(ctx, device, timeline).value : '',
    apps: appsFragment(device, apps).value,
  };
}

export function devicePage(
  ctx: DashboardContext,
  device: Device,
  timeline: Timeline,
  apps: Application[],
  logs: DeviceLogEntry[],
): string {
  const name = device.metadata.name;
  const f = deviceFragments(ctx, device, timeline, apps);
  const lastId = logs.length ? logs[logs.length - 1]!.id : 0;
  return layout(ctx, {
    title: name,
    path: '/devices',
    stream: `/ui/stream/device/${encodeURIComponent(name)}?after=${lastId}`,
    body: html`<h1>Device ${name}</h1>
      <div id="device-summary">${raw(f['device-summary']!)}</div>
      <div class="cards">
        <section class="card">
          <h2>Spec</h2>
          <dl class="kv">
            <dt>MCU</dt>
            <dd>${device.spec.mcuType}</dd>
            <dt>Runtime</dt>
            <dd>${device.spec.runtime}</dd>
            <dt>Preferred gateway</dt>
            <dd>${device.spec.gateway ?? '—'}</dd>
            <dt>Firmware</dt>
            <dd>${device.spec.firmware ?? 'default'}</dd>
            <dt>Labels</dt>
            <dd>${labelText(device.metadata.labels) || '—'}</dd>
            <dt>UID</dt>
            <dd>${device.metadata.uid}</dd>
            <dt>Created</dt>
            <dd>${device.metadata.creationTimestamp}</dd>
          </dl>
        </section>
        <section class="card">
          <h2>Status</h2>
          <div id="device-status">${raw(f['device-status']!)}</div>
        </section>
        <section class="card">
          <h2>Step timeline</h2>
          <div id="timeline">${raw(f.timeline!)}</div>
        </section>
        <section class="card">
          <h2>Apps</h2>
          <div id="apps">${raw(f.apps!)}</div>
        </section>
      </div>
      <h2>Logs (UART and app output, live)</h2>
      <div id="log-lines" data-device="${name}">${logLines(logs)}</div>`,
  });
}

// ---- topology -------------------------------------------------------------------------

const ROW = 26;
const PER_COLUMN = 25;

/** SVG: gateways on the left, devices to the right, an edge for each device's gateway. */
export function topologySvg(gateways: Gateway[], devices: Device[]): RawHtml {
  const known = new Set(gateways.map((g) => g.metadata.name));
  const gatewayNames = [...known];
  for (const d of devices) {
    const g = d.status.gateway?.name;
    if (g && !known.has(g)) {
      known.add(g);
      gatewayNames.push(g);
    }
  }
  const sorted = [...devices].sort(
    (a, b) =>
      (a.status.gateway?.name ?? '~').localeCompare(b.status.gateway?.name ?? '~') ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
  const columns = Math.max(1, Math.ceil(sorted.length / PER_COLUMN));
  const rows = Math.min(PER_COLUMN, Math.max(sorted.length, 1));
  const height = Math.max(rows, gatewayNames.length * 2) * ROW + 60;
  const width = 260 + columns * 190;
  const gatewayPos = new Map<string, { x: number; y: number }>();
  gatewayNames.forEach((g, i) => {
    const span = height - 60;
    gatewayPos.set(g, { x: 110, y: 40 + ((i + 0.5) * span) / gatewayNames.length });
  });
  const devicePos = sorted.map((d, i) => ({
    d,
    x: 300 + Math.floor(i / PER_COLUMN) * 190,
    y: 40 + (i % PER_COLUMN) * ROW + ROW / 2,
  }));
  const gatewayStatus = new Map(gateways.map((g) => [g.metadata.name, g.status.phase]));
  return html`<svg
    xmlns="http://www.w3.org/2000/svg"
    id="topology-svg"
    width="${width}"
    height="${height}"
    viewBox="0 0 ${width} ${height}"
    role="img"
    aria-label="gateways and their devices"
  >
    <g class="edges">
      ${devicePos.map(({ d, x, y }) => {
        const g = d.status.gateway?.name;
        const from = g ? gatewayPos.get(g) : undefined;
        if (!from) return '';
        return html`<line
          data-edge="${g}->${d.metadata.name}"
          data-phase="${d.status.phase}"
          x1="${from.x + 70}"
          y1="${from.y}"
          x2="${x - 6}"
          y2="${y}"
          stroke="${PHASE_COLOURS[d.status.phase] ?? '#999'}"
          stroke-width="${d.status.phase === 'Connected' ? 1.6 : 1}"
          stroke-dasharray="${d.status.phase === 'Connected' ? '' : '4 3'}"
        />`;
      })}
    </g>
    <g class="gateways">
      ${gatewayNames.map((g) => {
        const p = gatewayPos.get(g)!;
        const phase = gatewayStatus.get(g) ?? 'Unknown';
        return html`<g data-gateway="${g}" data-phase="${phase}">
          <rect
            x="${p.x - 80}"
            y="${p.y - 16}"
            width="150"
            height="32"
            rx="6"
            fill="${phase === 'Ready' ? '#1d2330' : '#8a1c1c'}"
          />
          <text x="${p.x - 5}" y="${p.y + 4}" text-anchor="middle" fill="#fff">${g}</text>
        </g>`;
      })}
    </g>
    <g class="devices">
      ${devicePos.map(
        ({ d, x, y }) =>
          html`<a href="/devices/${encodeURIComponent(d.metadata.name)}"
            ><g data-node="${d.metadata.name}" data-phase="${d.status.phase}">
              <circle cx="${x}" cy="${y}" r="6" fill="${PHASE_COLOURS[d.status.phase] ?? '#999'}"
                ><title>${d.metadata.name}: ${d.status.phase}</title></circle
              >
              <text x="${x + 10}" y="${y + 4}">${d.metadata.name}</text>
            </g></a
          >`,
      )}
    </g>
  </svg>`;
}

function legend(): RawHtml {
  return html`<p class="legend">
    ${Object.entries(PHASE_COLOURS).map(
      ([p, c]) =>
        html`<span style="margin-right:12px"
          ><svg width="10" height="10"><circle cx="5" cy="5" r="5" fill="${c}" /></svg> ${p}</span
        >`,
    )}
  </p>`;
}

export function topologyPage(ctx: DashboardContext, gateways: Gateway[], devices: Device[]): string {
  return layout(ctx, {
    title: 'Topology',
    path: '/topology',
    stream: '/ui/stream/topology',
    body: html`<h1>Topology</h1>
      ${legend()}
      <div id="topology">${topologySvg(gateways, devices)}</div>`,
  });
}

// ---- gateways -------------------------------------------------------------------------

export function gatewayRows(gateways: Gateway[], health: HealthSnapshot): RawHtml {
  if (gateways.length === 0)
    return html`<tr>
      <td colspan="8">No gateway has registered yet.</td>
    </tr>`;
  const byName = new Map(health.processes.filter((p) => p.kind === 'gateway').map((p) => [p.name, p]));
  return html`${gateways.map((g) => {
    const h = byName.get(g.metadata.name);
    return html`<tr data-gateway="${g.metadata.name}" data-phase="${g.status.phase}">
      <td><a href="/devices?gateway=${encodeURIComponent(g.metadata.name)}">${g.metadata.name}</a></td>
      <td><span class="chip ${g.status.phase}">${g.status.phase}</span></td>
      <td>${g.spec.endpoint}</td>
      <td>${g.status.connectedDevices} / ${g.spec.maxDevices}</td>
      <td>${g.status.lastSeen ?? ''}</td>
      <td>${g.status.taskQueue ?? ''}</td>
      <td>${h ? html`<span class="chip ${h.status}">${h.status}</span> ${h.detail}` : 'not checked yet'}</td>
      <td>
        <small
          >${Object.entries(h?.metrics ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}</small
        >
      </td>
    </tr>`;
  })}`;
}

export function gatewaysPage(ctx: DashboardContext, gateways: Gateway[], health: HealthSnapshot): string {
  return layout(ctx, {
    title: 'Gateways',
    path: '/gateways',
    stream: '/ui/stream/gateways',
    body: html`<h1>Gateways</h1>
      <table>
        <thead>
          <tr>
            <th>Gateway</th>
            <th>Phase</th>
            <th>Endpoint</th>
            <th>Devices</th>
            <th>Last seen</th>
            <th>Task queue</th>
            <th>Health</th>
            <th>Metrics</th>
          </tr>
        </thead>
        <tbody id="gateways">
          ${gatewayRows(gateways, health)}
        </tbody>
      </table>`,
  });
}
