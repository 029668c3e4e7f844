/** The topology page: gateways and the devices each one holds, as SVG. */
import type { Device, Gateway } from '../../common/resources.js';
import { html, type RawHtml } from '../html.js';
import { PHASE_COLOURS, layout, type DashboardContext } from './layout.js';

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
