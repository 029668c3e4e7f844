/**
 * The HTMX dashboard's frame, shared by every page: nav, htmx, the live script and the SSE
 * stream a page listens to, and the small bits several pages show (phase colours, labels).
 * Pages are server-rendered; live updates arrive over server-sent events (web/live.ts) as
 * fragments for element ids; every value interpolated through html`` is escaped.
 */
import { DEVICE_PHASES } from '../../common/resources.js';
import { html, raw, type RawHtml } from '../html.js';

export interface DashboardContext {
  csrfToken: string;
  workflowUrl: (workflowId: string) => string;
  temporalUiUrl: string;
}

/**
 * The state colours (.Pending … .Canceled) are single classes, as is the chips' `.step` rule:
 * with equal specificity the later rule wins, so `.step`'s grey comes before them — after them it
 * turned every chip grey but the states `.step.X` rules named again (a Deploying app was grey).
 * A provisioning step Running is yellow (under way), not the green of a Running device or app.
 */
const STYLE = `
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:20px;align-items:center;flex-wrap:wrap}
header a{color:#9cc3ff;text-decoration:none}header a.current{color:#fff;font-weight:600;border-bottom:2px solid #9cc3ff}
header .live{margin-left:auto;font-size:12px;color:#aaa}
body[data-live=on] header .live::before{content:"● live";color:#6fdc8c}
body[data-live=off] header .live::before{content:"● reconnecting";color:#ffb74d}
main{padding:20px 24px}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:6px 10px;border-bottom:1px solid #e3e6ea;text-align:left;font-size:13px;vertical-align:top}
.phase,.chip{padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap;background:#eee}
.steps{display:flex;gap:4px;flex-wrap:wrap}.step{font-size:11px;padding:1px 6px;border-radius:8px;background:#eee}
.Pending{background:#eee}.Provisioning,.Deploying,.Running.step,.degraded{background:#fff3c4}
.Connected,.Running,.Ready,.ok,.Succeeded{background:#c9f2d0}
.Disconnected,.Unreachable,.PartiallyRunning,.unknown{background:#ffe0b3}
.Failed,.RolledBack,.down,.Unavailable,.TimedOut{background:#ffc9c9}.Deprovisioning,.Stopped,.Exited,.Canceled{background:#dde3ff}
form.add,form.filters{display:flex;gap:8px;margin-bottom:12px;align-items:center;flex-wrap:wrap}
.error{color:#b00020;margin:8px 0}.msg{color:#8a1c1c;font-size:12px}.note{color:#556;font-size:12px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:16px}
.card{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:12px 16px;overflow:auto;min-width:0}
.card h2{margin-top:0}
.msg,.note,.log-msg,.wrap{overflow-wrap:anywhere}.timeline li>*{flex-shrink:0}.timeline li>.msg,.timeline li>.note{flex-shrink:1;min-width:0}
.bar{display:flex;height:14px;border-radius:7px;overflow:hidden;background:#eee;margin:6px 0}
.bar span{display:block;height:100%}
.counts a{margin-right:10px;text-decoration:none;color:inherit}.counts a[aria-current]{font-weight:600;text-decoration:underline}#phase-counts{margin:0 0 8px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}dl.kv dt{color:#667}dl.kv dd{margin:0;font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.timeline{list-style:none;padding:0;margin:0}.timeline li{display:flex;flex-wrap:wrap;gap:4px 10px;align-items:baseline;padding:4px 0;border-bottom:1px dashed #e3e6ea;font-size:13px}
.timeline .when{color:#667;font-size:11px;font-family:ui-monospace,monospace}
#log-lines{background:#10141c;color:#d6dde8;font-family:ui-monospace,monospace;font-size:12px;height:320px;overflow:auto;padding:8px;border-radius:6px;white-space:pre-wrap}
.log-time{color:#7d8899;margin-right:8px}.log-src{color:#8fc1ff;margin-right:8px}.log-line.publish .log-msg{color:#b9f6ca}
.actions{display:flex;gap:8px;margin:8px 0}
button[disabled]{cursor:not-allowed;opacity:.6}
progress{width:240px}
svg text{font-size:11px;font-family:system-ui,sans-serif}
button{cursor:pointer}`;

const NAV: [string, string][] = [
  ['/', 'Overview'],
  ['/devices', 'Devices'],
  ['/topology', 'Topology'],
  ['/gateways', 'Gateways'],
  ['/applications', 'Applications'],
  ['/enrollments', 'Enrollments'],
  ['/trends', 'Trends'],
];

/** The page frame: nav, htmx, the live script and the SSE stream this page listens to. */
export function layout(
  ctx: DashboardContext,
  page: { title: string; path: string; stream?: string; body: RawHtml },
): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>${page.title} · Wasmbed</title>
        <script src="/assets/htmx.min.js"></script>
        <script src="/assets/wasmbed.js" defer></script>
        <style>
          ${raw(STYLE)}
        </style>
      </head>
      <body
        hx-headers="${JSON.stringify({ 'X-CSRF-Token': ctx.csrfToken })}"
        data-stream="${page.stream ?? ''}"
      >
        <header>
          <strong>Wasmbed</strong>
          ${NAV.map(
            ([href, label]) =>
              html`<a href="${href}" class="${href === page.path ? 'current' : ''}">${label}</a>`,
          )}
          <a href="${ctx.temporalUiUrl}" target="_blank" rel="noopener">Temporal Web UI</a>
          <a href="/api/v1/openapi.json">API</a>
          <span class="live" title="live updates over server-sent events"></span>
        </header>
        <main>
          <div id="live-problem" class="error" role="status"></div>
          ${page.body}
        </main>
      </body>
    </html>`.value;
}

export const labelText = (labels: Record<string, string> | undefined) =>
  Object.entries(labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

/**
 * Devices per phase, each a link to the devices table filtered by it (the overview's counts and
 * the devices page's, both live fragments). `current` marks the phase a page is filtered by.
 */
export function phaseCountLinks(
  counts: Record<string, number>,
  href: (phase: string) => string,
  current?: string,
): RawHtml {
  return html`${DEVICE_PHASES.map(
    (p) =>
      html`<a
        href="${href(p)}"
        data-phase-count="${p}"
        data-count="${counts[p] ?? 0}"
        ${raw(p === current ? 'aria-current="true"' : '')}
        ><span class="phase ${p}">${p}</span> ${counts[p] ?? 0}</a
      >`,
  )}`;
}

export const PHASE_COLOURS: Record<string, string> = {
  Pending: '#9e9e9e',
  Provisioning: '#f9a825',
  Connected: '#2e7d32',
  Disconnected: '#ef6c00',
  Unreachable: '#d84315',
  Failed: '#c62828',
  Deprovisioning: '#3949ab',
};
