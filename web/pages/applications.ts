/**
 * The applications page: an upload form (module, target, strategy) that deploys through the
 * same service as the API, and the applications with their per-device states, updated live
 * over server-sent events, with Promote / Abort for a canary waiting for approval, Stop and
 * Delete.
 */
import { ROLLOUT_STRATEGIES, type Application } from '../../common/resources.js';
import { labelText, layout, type DashboardContext } from './layout.js';
import { DNS_LABEL_HTML_PATTERN } from '../../common/names.js';
import { html, raw, type RawHtml } from '../html.js';
import { COUNT_OR_PERCENT_HTML_PATTERN, DEFAULT_MAX_UNAVAILABLE } from '../../common/rollout-count.js';
import { listQueryString } from '../list-params.js';
import { strategyText } from '../../common/strategy-text.js';
import { appDeviceStateLabel, awaitingRolloutLabel } from '../../common/app-device-label.js';

/** Phases whose message explains a problem (shown in red); other messages are notes. */
const PROBLEM_PHASES = new Set(['Failed', 'RolledBack', 'PartiallyRunning']);

/** Up to this many devices a target, or a state of a big target, names; the rest are counted. */
export const NAMED_DEVICES = 5;

/**
 * The target: a selector or all devices links to the devices table it selects; a list of devices
 * names the first few (a list of 1,000 names was the row's longest cell).
 */
function targetCell(a: Application): RawHtml {
  const t = a.spec.target;
  if (t.all) return html`<a href="/devices">all devices</a>`;
  if (t.selector) {
    const selector = labelText(t.selector).replaceAll(', ', ',');
    return html`<a href="/devices?labelSelector=${encodeURIComponent(selector)}"
      >selector ${labelText(t.selector)}</a
    >`;
  }
  const devices = t.devices ?? [];
  const more = devices.length - NAMED_DEVICES;
  return html`${devices.slice(0, NAMED_DEVICES).join(', ')}${more > 0 ? html` and ${more} more` : ''}`;
}

function actions(a: Application): RawHtml {
  const path = `/ui/applications/${encodeURIComponent(a.metadata.name)}`;
  const button = (action: string, label: string, confirm?: string) =>
    html`<button
      hx-post="${path}/${action}"
      hx-target="#applications"
      data-action="${action}"
      ${raw(confirm ? html`hx-confirm="${confirm}"`.value : '')}
    >
      ${label}
    </button>`;
  return html`<div class="actions">
    ${
      a.status.awaitingPromotion
        ? html`${button('promote', 'Promote')}
          ${button('abort', 'Abort', `Abort the canary of ${a.metadata.name} and roll it back?`)}`
        : ''
    }
    ${a.status.phase === 'Stopped' ? '' : button('stop', 'Stop', `Stop ${a.metadata.name} on its devices?`)}
    ${button('delete', 'Delete', `Delete application ${a.metadata.name}?`)}
  </div>`;
}

/** Up to this many targeted devices an application names each one with its state. */
export const NAMED_APP_DEVICES_UP_TO = 20;
/**
 * In a bigger target these states are only counted: what a rollout, a Stop or an Abort leaves on
 * every device (an aborted canary of an update leaves its other targets Running the version they
 * kept; a one-shot app Exits everywhere).
 */
const COUNTED_APP_STATES: ReadonlySet<string> = new Set([
  'Pending',
  'Running',
  'Exited',
  'Stopped',
  'RolledBack',
]);

/**
 * The per-device states. A chip per device made a 300-device application's row about 75 kB,
 * all of it sent again on each device's step of a rollout (10 MB in three minutes to one tab):
 * past NAMED_APP_DEVICES_UP_TO every state is a count, and only the first NAMED_DEVICES devices
 * of each other state (Deploying, Failed) are named, each linking to its device — an AllAtOnce
 * rollout to 1,000 devices named all 1,000 while they were Deploying, and again if they Failed.
 * Each count links to the devices list of the devices in that state (app=…&appState=…). The
 * devices the rollout has not reached are one count of their own (a paused canary's 299 others
 * were counted as Running, as if they ran the canary's version); the devices list has no filter
 * for them, their own state there being that of the version they kept.
 */
function deviceStates(a: Application): RawHtml {
  const entries = Object.entries(a.status.devices ?? {});
  if (entries.length <= NAMED_APP_DEVICES_UP_TO) {
    return html`<div class="steps">
      ${entries.map(([d, st]) => deviceChip(d, st, a.status.awaitingPromotion))}
    </div>`;
  }
  const byState = new Map<string, [string, AppDeviceState][]>();
  let awaiting = 0;
  for (const entry of entries) {
    if (entry[1].awaitingRollout) {
      awaiting++;
      continue;
    }
    const list = byState.get(entry[1].state) ?? [];
    list.push(entry);
    byState.set(entry[1].state, list);
  }
  const named = [...byState]
    .filter(([state]) => !COUNTED_APP_STATES.has(state))
    .flatMap(([, list]) => list.slice(0, NAMED_DEVICES));
  return html`<div class="steps">
    ${[...byState].map(
      ([state, list]) =>
        html`<a
          href="${devicesInState(a.metadata.name, state)}"
          class="step ${state}"
          data-state-count="${state}"
          data-count="${list.length}"
          title="the devices where ${a.metadata.name} is ${state}"
          >${list.length} ${state}</a
        >`,
    )}
    ${
      awaiting > 0
        ? html`<span
            class="step Pending"
            data-state-count="awaitingRollout"
            data-count="${awaiting}"
            title="not reached by the rollout yet: they run the version they ran before"
            >${awaiting} ${awaitingRolloutLabel(a.status.awaitingPromotion)}</span
          >`
        : ''
    }
    ${named.map(([d, st]) => deviceChip(d, st, a.status.awaitingPromotion))}
  </div>`;
}

/** The devices list filtered to the devices where the application is in `state` (all of them, paged). */
function devicesInState(app: string, state: string): string {
  return `/devices${listQueryString({ app, appState: state })}`;
}

type AppDeviceState = NonNullable<Application['status']['devices']>[string];

function deviceChip(device: string, st: AppDeviceState, awaitingPromotion: boolean | undefined): RawHtml {
  const label = appDeviceStateLabel(st, awaitingPromotion);
  return html`<a
    href="/devices/${encodeURIComponent(device)}"
    class="step ${st.state}"
    data-device="${device}"
    data-state="${st.state}"
    ${raw(st.awaitingRollout ? 'data-awaiting-rollout' : '')}
    title="${st.error ?? label}"
    >${device}: ${label}</a
  >`;
}

export function applicationRows(ctx: DashboardContext, apps: Application[], error?: string): RawHtml {
  const errorRow = error
    ? html`<tr data-notice>
        <td colspan="8" class="error" role="alert">${error}</td>
      </tr>`
    : html``;
  if (apps.length === 0)
    return html`${errorRow}
      <tr>
        <td colspan="8">
          No applications. Deploy one with the form above or <code>wasmbed app deploy</code>.
        </td>
      </tr>`;
  return html`${errorRow}${apps.map((a) => {
    const c = a.status.counts;
    return html`<tr
      id="app-${a.metadata.name}"
      data-app="${a.metadata.name}"
      data-phase="${a.status.phase}"
      data-awaiting-promotion="${a.status.awaitingPromotion ? 'true' : 'false'}"
    >
      <td>${a.metadata.name}</td>
      <td>
        <span class="phase ${a.status.phase}">${a.status.phase}</span>
        ${
          a.status.message
            ? html`<div class="${PROBLEM_PHASES.has(a.status.phase) ? 'msg' : 'note'}">
                ${a.status.message}
              </div>`
            : ''
        }
      </td>
      <td>${strategyText(a.spec.strategy)}</td>
      <td>${targetCell(a)}</td>
      <td>
        ${c.running}/${c.targeted}
        running${c.failed ? `, ${c.failed} failed` : ''}${c.pending ? `, ${c.pending} pending` : ''}
      </td>
      <td>${deviceStates(a)}</td>
      <td>
        ${
          a.status.workflowId
            ? html`<a
                class="workflow"
                href="${ctx.workflowUrl(a.status.workflowId)}"
                target="_blank"
                rel="noopener"
                >${a.status.workflowId}</a
              >`
            : ''
        }
        <div>
          <small
            >${
              // An Application CR whose module (a ConfigMap key) the controller has not resolved yet.
              a.spec.module.sha256
                ? `${a.spec.module.sha256.slice(0, 12)} · ${a.spec.module.size ?? '?'} B`
                : 'module not resolved yet'
            }</small
          >
        </div>
      </td>
      <td>${actions(a)}</td>
    </tr>`;
  })}`;
}

/**
 * The upload form: multipart/form-data, the same fields as the API's multipart upload. Its
 * answer goes next to it (#deploy-result); the new application's row arrives with the live
 * updates of the table.
 */
export function deployForm(deviceNames: string[]): RawHtml {
  return html`<form
    id="deploy-form"
    class="deploy"
    hx-post="/ui/applications"
    hx-encoding="multipart/form-data"
    hx-target="#deploy-result"
    hx-swap="innerHTML"
  >
    <fieldset>
      <legend>Module</legend>
      <label>File <input type="file" name="wasm" accept=".wasm,application/wasm" required /></label>
      <label
        >Name <input name="name" required pattern="${DNS_LABEL_HTML_PATTERN}" size="16" placeholder="blinky"
      /></label>
      <label>Entry <input name="entry" size="10" placeholder="_start" /></label>
      <label>Env (JSON) <input name="env" size="22" placeholder='{"PERIOD_MS":"500"}' /></label>
    </fieldset>
    <fieldset>
      <legend>Target: one of</legend>
      <label
        >Devices <input name="devices" list="device-names" size="22" placeholder="dev-1,dev-2" />
        <datalist id="device-names">
          ${deviceNames.map((d) => html`<option value="${d}"></option>`)}
        </datalist></label
      >
      <label>Selector <input name="selector" size="16" placeholder="group=lab" /></label>
      <label><input type="checkbox" name="all" value="true" /> All devices</label>
    </fieldset>
    <fieldset>
      <legend>Strategy</legend>
      <select name="strategy">
        ${ROLLOUT_STRATEGIES.map((s) => html`<option value="${s}">${s}</option>`)}
      </select>
      <label
        title="Rolling, and Canary after its first wave: devices updated at once, or a percentage of them"
        >Max unavailable
        <input
          name="maxUnavailable"
          value="${DEFAULT_MAX_UNAVAILABLE}"
          size="4"
          pattern="${COUNT_OR_PERCENT_HTML_PATTERN}"
      /></label>
      <label title="Canary: devices in the first wave, or a percentage of them"
        >Canary <input name="canary" value="1" size="4" pattern="${COUNT_OR_PERCENT_HTML_PATTERN}"
      /></label>
      <label
        ><input type="checkbox" name="pauseAfterCanary" value="true" /> Wait for approval after the
        canary</label
      >
      <label title="Failed devices tolerated before the rollout stops and rolls back"
        >Failure threshold <input type="number" name="failureThreshold" min="0" value="0"
      /></label>
    </fieldset>
    <button type="submit" id="deploy-app">Deploy</button>
    <div id="deploy-result" role="status"></div>
  </form>`;
}

const STYLE = `
form.deploy{display:flex;gap:10px;flex-wrap:wrap;align-items:flex-end;background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:10px 12px;margin-bottom:16px}
form.deploy fieldset{border:1px solid #e3e6ea;border-radius:4px;display:flex;gap:8px;flex-wrap:wrap;align-items:center;margin:0;padding:4px 8px 8px}
form.deploy legend{font-size:12px;color:#667}form.deploy label{font-size:13px}
form.deploy input[type=number]{width:4em}#deploy-result{flex-basis:100%}
#deploy-result .ok{color:#1b6b33;background:none}
#applications .step.Running{background:#c9f2d0}`;

export function applicationsPage(
  ctx: DashboardContext,
  f: { applications: string },
  deviceNames: string[],
  stream: string,
): string {
  return layout(ctx, {
    title: 'Applications',
    path: '/applications',
    stream,
    body: html`<style>
        ${raw(STYLE)}
      </style>
      <h1>Applications</h1>
      ${deployForm(deviceNames)}
      <table>
        <thead>
          <tr>
            <th>Application</th>
            <th>Phase</th>
            <th>Strategy</th>
            <th>Target</th>
            <th>Progress</th>
            <th>Per device</th>
            <th>Workflow / module</th>
            <th></th>
          </tr>
        </thead>
        <tbody id="applications">
          ${raw(f.applications)}
        </tbody>
      </table>`,
  });
}

/** The answer to an upload, shown next to the form. */
export function deployResult(outcome: { name: string; workflowId: string } | { error: string }): string {
  if ('error' in outcome) return html`<div class="error" role="alert">${outcome.error}</div>`.value;
  return html`<span class="ok" data-deployed="${outcome.name}"
    >Deploying ${outcome.name} (workflow ${outcome.workflowId})…</span
  >`.value;
}
