/** The topology page: gateways and the devices each one holds, as SVG. */
import type { Device, Gateway } from '../../common/resources.js';
import { html, raw, type RawHtml } from '../html.js';
import { PHASE_COLOURS, layout, type DashboardContext } from './layout.js';

const ROW = 26;
const PER_COLUMN = 25;

/** Beyond this many devices the topology draws dots without names, grouped per gateway. */
export const COMPACT_TOPOLOGY_FROM = 100;
const DOT = 14;
const DOTS_PER_ROW = 50;

/**
 * A fleet's topology: one band per gateway (and one for devices without one), the gateway on
 * the left with its device counts, its devices as coloured dots in name order (a dot's title
 * names the device, a click opens it), one edge per gateway. A thousand devices stay a few
 * hundred kilobytes and readable; the devices page filtered by gateway lists them.
 */
function compactTopologySvg(
  gatewayNames: string[],
  gatewayStatus: Map<string, string>,
  devices: Device[],
): RawHtml {
  const groups = new Map<string, Device[]>(gatewayNames.map((g) => [g, []]));
  const unassigned: Device[] = [];
  for (const d of [...devices].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
    const g = d.status.gateway?.name;
    if (g) groups.get(g)!.push(d);
    else unassigned.push(d);
  }
  const bands = [...groups].map(([name, members]) => ({ name, members, gateway: true }));
  if (unassigned.length) bands.push({ name: 'no gateway', members: unassigned, gateway: false });
  let y = 20;
  const laidOut = bands.map((band) => {
    const rows = Math.max(1, Math.ceil(band.members.length / DOTS_PER_ROW));
    const top = y;
    const height = Math.max(44, rows * DOT + 28);
    y += height + 12;
    return { ...band, top, height };
  });
  const width = 230 + DOTS_PER_ROW * DOT + 20;
  const height = y + 8;
  const counts = (members: Device[]) => {
    const byPhase = new Map<string, number>();
    for (const d of members) byPhase.set(d.status.phase, (byPhase.get(d.status.phase) ?? 0) + 1);
    return [...byPhase].map(([p, n]) => `${n} ${p}`).join(' · ');
  };
  return html`<svg
    xmlns="http://www.w3.org/2000/svg"
    id="topology-svg"
    data-compact="true"
    width="${width}"
    height="${height}"
    viewBox="0 0 ${width} ${height}"
    role="img"
    aria-label="gateways and their devices"
  >
    ${laidOut.map((band) => {
      const mid = band.top + 22;
      const phase = band.gateway ? (gatewayStatus.get(band.name) ?? 'Unknown') : 'none';
      return html`<g class="band">
        <a href="/devices?${band.gateway ? `gateway=${encodeURIComponent(band.name)}` : ''}"
          ><g ${raw(band.gateway ? 'data-gateway' : 'data-unassigned')}="${band.name}" data-phase="${phase}">
            <rect
              x="10"
              y="${mid - 16}"
              width="160"
              height="32"
              rx="6"
              fill="${phase === 'Ready' ? '#1d2330' : band.gateway ? '#8a1c1c' : '#667'}"
            />
            <text x="90" y="${mid + 4}" text-anchor="middle" fill="#fff">${band.name}</text>
          </g></a
        >
        ${band.members.length ? html`<line x1="170" y1="${mid}" x2="222" y2="${mid}" stroke="#667" stroke-width="${Math.min(8, 1 + Math.log2(band.members.length))}" />` : ''}
        <text x="230" y="${band.top + 10}" class="band-counts"
          >${band.members.length} devices${band.members.length ? ` · ${counts(band.members)}` : ''}</text
        >
        ${band.members.map((d, i) => {
          const cx = 236 + (i % DOTS_PER_ROW) * DOT;
          const cy = band.top + 26 + Math.floor(i / DOTS_PER_ROW) * DOT;
          return html`<a href="/devices/${encodeURIComponent(d.metadata.name)}"
            ><circle
              data-node="${d.metadata.name}"
              data-phase="${d.status.phase}"
              cx="${cx}"
              cy="${cy}"
              r="5"
              fill="${PHASE_COLOURS[d.status.phase] ?? '#999'}"
              ><title>${d.metadata.name}: ${d.status.phase}</title></circle
            ></a
          >`;
        })}
      </g>`;
    })}
  </svg>`;
}

/** SVG: gateways on the left, devices to the right, an edge for each device's gateway (compact for a fleet). */
export function topologySvg(
  gateways: Gateway[],
  devices: Device[],
  compactFrom = COMPACT_TOPOLOGY_FROM, // benchmarks draw the full view of a fleet to compare
): RawHtml {
  const known = new Set(gateways.map((g) => g.metadata.name));
  const gatewayNames = [...known];
  for (const d of devices) {
    const g = d.status.gateway?.name;
    if (g && !known.has(g)) {
      known.add(g);
      gatewayNames.push(g);
    }
  }
  if (devices.length >= compactFrom) {
    return compactTopologySvg(
      gatewayNames,
      new Map(gateways.map((g) => [g.metadata.name, g.status.phase])),
      devices,
    );
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

export function topologyPage(ctx: DashboardContext, f: { topology: string }, stream: string): string {
  return layout(ctx, {
    title: 'Topology',
    path: '/topology',
    stream,
    body: html`<h1>Topology</h1>
      ${legend()}
      <div id="topology">${raw(f.topology)}</div>`,
  });
}
