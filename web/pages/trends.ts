/**
 * The dashboard's Trends page (`/trends`): devices by phase over the last hour, provisionings
 * completed per minute and the Connected devices' heartbeat age, as server-side SVG charts
 * (web/svg-chart.ts) from the web process's TrendRecorder (web/trends.ts).
 */
import { DEVICE_PHASES, type DevicePhase } from '../../common/resources.js';
import { html, raw, type RawHtml } from '../html.js';
import { barChart, chartLegend, lineChart, type ChartSeries } from '../svg-chart.js';
import { TREND_WINDOW_MS, type Trends } from '../trends.js';
import { layout, type DashboardContext } from './layout.js';

export const PHASE_COLORS: Record<DevicePhase, string> = {
  Pending: '#9aa3b2',
  Provisioning: '#e0a800',
  Connected: '#2e9e4f',
  Disconnected: '#f08c00',
  Unreachable: '#d9480f',
  Failed: '#c92a2a',
  Deprovisioning: '#5c7cfa',
};

/** The three charts; also the fragment the live stream refreshes. */
export function trendCharts(trends: Trends): RawHtml {
  const from = trends.now - TREND_WINDOW_MS;
  const phases = DEVICE_PHASES.filter((p) => trends.samples.some((s) => s.devicesByPhase[p] > 0));
  const phaseSeries: ChartSeries[] = phases.map((phase) => ({
    name: phase,
    color: PHASE_COLORS[phase],
    points: trends.samples.map((s) => [s.at, s.devicesByPhase[phase]]),
  }));
  const heartbeat: ChartSeries[] = [
    { name: 'median', color: '#1971c2', points: trends.samples.map((s) => [s.at, s.heartbeatAgeP50]) },
    { name: 'oldest', color: '#c92a2a', points: trends.samples.map((s) => [s.at, s.heartbeatAgeMax]) },
  ];
  const provisioned = trends.provisionedPerMinute.reduce((sum, b) => sum + b.count, 0);
  return html`<section class="card" id="trend-phases">
      <h2>Devices by phase</h2>
      ${lineChart({ title: 'Devices by phase, last hour', series: phaseSeries, from, to: trends.now })}
      ${chartLegend(phaseSeries)}
    </section>
    <section class="card" id="trend-provisioning">
      <h2>Provisioning rate</h2>
      ${barChart({
        title: 'Provisionings completed per minute, last hour',
        buckets: trends.provisionedPerMinute,
        color: '#2e9e4f',
        bucketMs: 60_000,
      })}
      <p class="legend">${provisioned} completed in the last hour, per minute</p>
    </section>
    <section class="card" id="trend-heartbeat">
      <h2>Heartbeat lag</h2>
      ${lineChart({ title: 'Age of the last heartbeat, Connected devices', series: heartbeat, from, to: trends.now, unit: ' s' })}
      ${chartLegend(heartbeat)}
      <p class="note">
        As the store has it: a gateway records a device's heartbeat at most once per heartbeat timeout
        (WASMBED_HEARTBEAT_TIMEOUT_MS, 15 s), so up to that plus one interval (20 s) is a healthy device. A
        device silent past the timeout is no longer Connected.
      </p>
    </section>`;
}

export function trendsPage(ctx: DashboardContext, f: { trends: string }, stream: string): string {
  return layout(ctx, {
    title: 'Trends',
    path: '/trends',
    stream,
    body: html`<h1>Trends</h1>
      <p>
        The last hour as this web process saw it (Prometheus keeps the longer history: docs/observability.md).
      </p>
      <div id="trends">${raw(f.trends)}</div>`,
  });
}
