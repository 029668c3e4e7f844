/** The device page: summary, status, provisioning timeline, apps, logs and actions of one device. */
import type { Application, Device } from '../../common/resources.js';
import type { DeviceLogEntry } from '../../store/device-logs.js';
import { lifecycleWorkflowId } from '../../workflows/contracts/index.js';
import { html, raw, type RawHtml } from '../html.js';
import type { Timeline, TimelineEntry } from '../timeline.js';
import { labelText, layout, type DashboardContext } from './layout.js';
import { appDeviceStateLabel } from '../../common/app-device-label.js';

/**
 * When a step ran, and how long it took where the history knows. A local step's times are those
 * of the marker recorded at the end of its workflow task, so each host step read "(0 ms)" while
 * provisioning took seconds: it shows when it was recorded, with no duration.
 */
export function when(entry: TimelineEntry): string {
  const start = entry.startedAt ? entry.startedAt.slice(11, 23) : '';
  if (!entry.startedAt || !entry.finishedAt || entry.local) return start;
  return `${start} (${Date.parse(entry.finishedAt) - Date.parse(entry.startedAt)} ms)`;
}

export function timelineList(entries: TimelineEntry[], kind: string): RawHtml {
  return html`<ol class="timeline" data-timeline="${kind}">
    ${entries.map(
      (s) =>
        html`<li data-step="${s.name}" data-state="${s.state}">
          <span class="step ${s.state}">${s.state}</span>
          <strong>${s.name}</strong>
          ${s.attempt && s.attempt > 1 ? html`<small>attempt ${s.attempt}</small>` : ''}
          <span class="when">${when(s)}</span>
          ${
            // A success's message is a note (collapseRepeats: "×11, last at …"), not a problem:
            // in the error red, a healthy device's recovery section looked like it was failing.
            s.message
              ? html`<span class="${s.state === 'Succeeded' ? 'note' : 'msg'}">${s.message}</span>`
              : ''
          }
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
        ${s.deviceInfo ? `${s.deviceInfo.firmwareVersion} (${s.deviceInfo.mcuType}, ${s.deviceInfo.freeMemory} B free, apps up to ${s.deviceInfo.maxAppSize} B)` : '—'}
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
                    <td class="wrap">${c.reason}</td>
                    <td class="wrap">${c.message}</td>
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
  const rows = new Map<
    string,
    { state: string; label?: string; error?: string | null; restarts?: number; since?: string }
  >();
  for (const a of apps) {
    const st = a.status.devices?.[name];
    if (st) rows.set(a.metadata.name, { ...st, label: appDeviceStateLabel(st, a.status.awaitingPromotion) });
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
            <td><span class="chip ${st.state}">${st.label ?? st.state}</span></td>
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

/**
 * The page around its live fragments (deviceFragments, rendered once for the page and its
 * stream's start); `stream` follows the log after `logs`.
 */
export function devicePage(
  ctx: DashboardContext,
  device: Device,
  f: Record<string, string>,
  logs: DeviceLogEntry[],
  stream: string,
): string {
  const name = device.metadata.name;
  return layout(ctx, {
    title: name,
    path: '/devices',
    stream,
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
