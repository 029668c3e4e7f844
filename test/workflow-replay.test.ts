/**
 * Replays recorded workflow histories on today's workflow code: a run begun on older code must still
 * replay after an upgrade, or every running device lifecycle (and any rollout or provisioning in
 * flight) wedges on a non-determinism error. Each change to a workflow's commands goes behind
 * patched('<marker>') (ARCHITECTURE.md, "Workflow changes stay replay-safe"); this test is what
 * catches a change that forgot to.
 *
 * The histories are in test/fixtures/histories/<label>/, one set per recorded code version:
 * `f85282c` (before the event-driven lifecycle, batched rollouts and the host's provisioning child)
 * and `main-<sha>` sets recorded later. Record a new set from main BEFORE changing a workflow:
 *
 *   npx tsx scripts/record-histories.ts main-$(git rev-parse --short HEAD)
 *
 * (one device provisioned, an app deployed to it while it provisions, updated to a version that
 * traps and rolled back, the device's certificate rotated, its power cut and recovered; a Canary
 * paused and promoted, another paused and aborted, the app stopped; a second device's recovery
 * that fails; a board enrolled with a claim token; lifecycles that continue as new; the apps
 * undeployed, the devices deleted; a few minutes) and commit it with the change. The sets
 * recorded before the scenario had its canaries, stop, failed recovery, enrollment and
 * continue-as-new are listed in BEFORE_FULL_SCENARIO; those of single provisioning runs of other
 * runtimes, in PROVISIONING_SHAPE_SETS.
 *
 * No Temporal server: the SDK's replay worker runs the project's workflow bundle (the one the
 * orchestrator and device hosts load) over each history.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker, type ReplayResult } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import { ensureWorkflowBundle } from '../temporal/workflow-bundle.js';
import { historyFromJson } from './support/history-json.js';

const HISTORIES_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'histories');

const fixtures = fs
  .readdirSync(HISTORIES_DIR, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.json'))
  .sort();

/** The recorded workflow id is the file name up to its run suffix (`.1`, `.running`, …). */
const workflowIdOf = (file: string) => path.basename(file).replace(/\.[^.]+\.json$/, '');

const results = new Map<string, ReplayResult>();

/** Sets recorded before the scenario had its canaries, stop, failed recovery, enrollment and continue-as-new. */
const BEFORE_FULL_SCENARIO = ['f85282c', 'main-c7cc718'];

/**
 * Sets of a few runs the scenario cannot record (it provisions virtual devices only), recorded on
 * Temporal's test environment with fake activities by `npx tsx test/support/provisioning-shapes.ts
 * <label>`: a docker device's provisioning on its host's queue and through a host child.
 */
const PROVISIONING_SHAPE_SETS = ['main-c3207e9-docker'];

interface RecordedEvent {
  eventType: string;
  workflowExecutionSignaledEventAttributes?: { signalName?: string };
}
const eventsOf = (file: string) =>
  (JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')) as { events: RecordedEvent[] }).events;
const closedBy = (file: string) => eventsOf(file).at(-1)?.eventType;
const signalled = (file: string, signal: string) =>
  eventsOf(file).some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === signal);

beforeAll(async () => {
  // The replay worker's state changes are not news; a non-determinism still reaches each result.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const { codePath } = await ensureWorkflowBundle();
  const histories = fixtures.map((file) => ({
    // Replay reports results by workflow id; the file name keeps runs of one id apart.
    workflowId: file,
    history: historyFromJson(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')),
  }));
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath }, replayName: 'workflow-replay-test' },
    histories,
  )) {
    results.set(result.workflowId, result);
  }
}, 180_000);

describe('recorded workflow histories replay on the current workflow code', () => {
  it('has histories of every kind of workflow from each recorded version', () => {
    const labels = fs.readdirSync(HISTORIES_DIR);
    expect(labels).toContain('f85282c');
    expect(labels.some((label) => label.startsWith('main-'))).toBe(true);
    for (const label of labels.filter((l) => !PROVISIONING_SHAPE_SETS.includes(l))) {
      const ids = fixtures.filter((file) => file.startsWith(`${label}${path.sep}`)).map(workflowIdOf);
      // f85282c provisioned without the device host's prepare-<device> child workflow.
      const prefixes = ['provision-', 'lifecycle-', 'deploy-', 'undeploy-', 'deprovision-'];
      if (label !== 'f85282c') prefixes.push('prepare-');
      for (const prefix of prefixes)
        expect(
          ids.some((id) => id.startsWith(prefix)),
          `${label} has a ${prefix}* history`,
        ).toBe(true);
      if (BEFORE_FULL_SCENARIO.includes(label)) continue;
      const files = fixtures.filter((file) => file.startsWith(`${label}${path.sep}`));
      const named = (prefix: string) => files.filter((file) => workflowIdOf(file).startsWith(prefix));
      expect(named('stop-'), `${label}: an app stopped and kept`).not.toEqual([]);
      expect(named('enroll-'), `${label}: a board enrolled`).not.toEqual([]);
      expect(
        named('deploy-').some((file) => signalled(file, 'promote')),
        `${label}: a canary promoted`,
      ).toBe(true);
      expect(
        named('deploy-').some((file) => signalled(file, 'abort')),
        `${label}: a canary aborted`,
      ).toBe(true);
      const lifecycles = named('lifecycle-');
      expect(
        lifecycles.some((file) => closedBy(file) === 'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW'),
        `${label}: a lifecycle that continued as new`,
      ).toBe(true);
      expect(
        lifecycles.some((file) => closedBy(file) === 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED'),
        `${label}: a lifecycle whose recovery failed`,
      ).toBe(true);
    }
  });

  it.each(fixtures)('%s', (file) => {
    const result = results.get(file);
    expect(result, `${file} was replayed`).toBeDefined();
    // A DeterminismViolationError or any other ReplayError names the command that no longer matches.
    expect(result!.error, `${file}: ${String(result!.error)}`).toBeUndefined();
  });
});
