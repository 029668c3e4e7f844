/**
 * Small charts drawn on the server as inline SVG: no script, no third-party origin, and they
 * render under the dashboard's content security policy like any other markup. Every text is
 * escaped by the html template.
 */
import { html, type RawHtml } from './html.js';

export interface ChartSeries {
  name: string;
  color: string;
  /** [time ms, value] in time order. */
  points: [number, number][];
}

const WIDTH = 560;
const HEIGHT = 160;
const PAD = { left: 40, right: 10, top: 10, bottom: 20 };

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const fixed = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

function frame(title: string, from: number, to: number, max: number, unit: string, body: RawHtml): RawHtml {
  const bottom = HEIGHT - PAD.bottom;
  return html`<svg
    class="chart"
    role="img"
    aria-label="${title}"
    viewBox="0 0 ${WIDTH} ${HEIGHT}"
    width="${WIDTH}"
    height="${HEIGHT}"
  >
    <line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${bottom}" stroke="#99a"></line>
    <line x1="${PAD.left}" y1="${bottom}" x2="${WIDTH - PAD.right}" y2="${bottom}" stroke="#99a"></line>
    <text x="${PAD.left - 4}" y="${PAD.top + 8}" text-anchor="end">${fixed(max)}${unit}</text>
    <text x="${PAD.left - 4}" y="${bottom}" text-anchor="end">0</text>
    <text x="${PAD.left}" y="${HEIGHT - 4}">${clock(from)}</text>
    <text x="${WIDTH - PAD.right}" y="${HEIGHT - 4}" text-anchor="end">${clock(to)}</text>
    ${body}
  </svg>`;
}

/** Lines over [from, to]; the y axis starts at 0 and ends at a round number above the data. */
export function lineChart(options: {
  title: string;
  series: ChartSeries[];
  from: number;
  to: number;
  unit?: string;
}): RawHtml {
  const { from, to } = options;
  const max = niceMax(Math.max(0, ...options.series.flatMap((s) => s.points.map(([, v]) => v))));
  const x = (t: number) => PAD.left + ((t - from) / Math.max(1, to - from)) * (WIDTH - PAD.left - PAD.right);
  const y = (v: number) => HEIGHT - PAD.bottom - (v / max) * (HEIGHT - PAD.top - PAD.bottom);
  const lines = options.series
    .filter((s) => s.points.length > 0)
    .map((s) => {
      const points = s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      return html`<polyline
        data-series="${s.name}"
        fill="none"
        stroke="${s.color}"
        stroke-width="1.5"
        points="${points}"
        ><title>${s.name}</title></polyline
      >`;
    });
  return frame(options.title, from, to, max, options.unit ?? '', html`${lines}`);
}

/** One bar per bucket, evenly spaced over the buckets' span. */
export function barChart(options: {
  title: string;
  buckets: { start: number; count: number }[];
  color: string;
  bucketMs: number;
}): RawHtml {
  const { buckets } = options;
  const from = buckets[0]?.start ?? 0;
  const to = (buckets.at(-1)?.start ?? 0) + options.bucketMs;
  const max = niceMax(Math.max(0, ...buckets.map((b) => b.count)));
  const slot = (WIDTH - PAD.left - PAD.right) / Math.max(1, buckets.length);
  const plot = HEIGHT - PAD.top - PAD.bottom;
  const bars = buckets
    .filter((b) => b.count > 0)
    .map((b) => {
      const i = Math.round((b.start - from) / options.bucketMs);
      const h = (b.count / max) * plot;
      return html`<rect
        data-count="${b.count}"
        x="${(PAD.left + i * slot + 1).toFixed(1)}"
        y="${(HEIGHT - PAD.bottom - h).toFixed(1)}"
        width="${Math.max(1, slot - 2).toFixed(1)}"
        height="${h.toFixed(1)}"
        fill="${options.color}"
        ><title>${clock(b.start)}: ${b.count}</title></rect
      >`;
    });
  return frame(options.title, from, to, max, '', html`${bars}`);
}

/** A legend of coloured names under a chart. */
export function chartLegend(series: { name: string; color: string }[]): RawHtml {
  return html`<p class="legend">
    ${series.map(
      (s) =>
        html`<svg width="10" height="10" aria-hidden="true">
            <rect width="10" height="10" fill="${s.color}"></rect>
          </svg>
          ${s.name} `,
    )}
  </p>`;
}
