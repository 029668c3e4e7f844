/** The gateways page: each gateway's endpoint, sessions and health. */
import type { Gateway } from '../../common/resources.js';
import type { HealthSnapshot } from '../health.js';
import { html, raw, type RawHtml } from '../html.js';
import { layout, type DashboardContext } from './layout.js';

/** Counters as they are; a sum of seconds to the millisecond (its binary float shows 0.5100000000000001). */
const metricValue = (v: number) => (Number.isInteger(v) ? String(v) : String(Number(v.toFixed(3))));

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
            .map(([k, v]) => `${k}=${metricValue(v)}`)
            .join(' ')}</small
        >
      </td>
    </tr>`;
  })}`;
}

export function gatewaysPage(ctx: DashboardContext, f: { gateways: string }, stream: string): string {
  return layout(ctx, {
    title: 'Gateways',
    path: '/gateways',
    stream,
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
          ${raw(f.gateways)}
        </tbody>
      </table>`,
  });
}
