/**
 * Where provisioning's host steps run: on the device's host, as local activities of the run (or
 * of its host child), except the start of an emulator that may take long — a container whose
 * image is built on first use, a QEMU machine — which is an activity of its own on the host's
 * queue that heartbeats. A long local activity held the run's whole workflow task open: the SDK
 * warned TMPRL1104 ("Workflow task duration exceeded 5 seconds") four times on a docker device's
 * first provisioning, the Web UI showed nothing of the step until it ended, and a start over the
 * step's 1-minute timeout failed the device. Real Temporal (the CLI's dev server) and the bundled
 * workflows; the activities are fakes that record how they were run (test/support/
 * provisioning-shapes.ts) — the docker suite checks the same shape with real ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type proto from '@temporalio/proto';
import { Patch, PROVISIONING_ON_HOST_PATCHES } from '../workflows/patches.js';
import { patchMarkersOf } from './support/patch-markers.js';
import { startProvisioningShapes, type ProvisioningShapes } from './support/provisioning-shapes.js';
import { HOST_QUEUE } from './support/workflow-env.js';

let shapes: ProvisioningShapes;

beforeAll(async () => {
  shapes = await startProvisioningShapes();
}, 120_000);

afterAll(async () => {
  await shapes?.test.stop();
});

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const scheduled = (events: HistoryEvent[], activity: string) =>
  events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity);
const localActivities = (events: HistoryEvent[]) =>
  events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
const startsOf = (device: string) => shapes.starts.filter((s) => s.device === device);

describe("provisioning's emulator start", () => {
  it('starts a virtual device as a local activity of the run on its host, with no marker', async () => {
    await shapes.provision('shape-virtual', 'virtual', 'host');
    const events = (await shapes.histories('shape-virtual')).provision.events!;
    expect(scheduled(events, 'startEmulator')).toEqual([]);
    expect(startsOf('shape-virtual')).toEqual([expect.objectContaining({ isLocal: true })]);
    // The markers the bench's empty workflow of this shape records too: none added.
    expect(patchMarkersOf(events)).toEqual(PROVISIONING_ON_HOST_PATCHES);
  }, 60_000);

  it.each(['docker', 'qemu'])(
    'starts a %s device by a heartbeating activity on its host queue; the other host steps stay local',
    async (runtime) => {
      const name = `shape-${runtime}`;
      await shapes.provision(name, runtime, 'host');
      const events = (await shapes.histories(name)).provision.events!;
      const [start, ...more] = scheduled(events, 'startEmulator');
      expect(more).toEqual([]);
      expect(start?.activityTaskScheduledEventAttributes?.taskQueue?.name).toBe(HOST_QUEUE);
      expect(Number(start?.activityTaskScheduledEventAttributes?.heartbeatTimeout?.seconds)).toBe(30);
      expect(patchMarkersOf(events)).toContain(Patch.slowEmulatorStartAsActivity);
      expect(startsOf(name)).toEqual([
        { device: name, isLocal: false, heartbeatTimeoutMs: 30_000, taskQueue: HOST_QUEUE },
      ]);
      // Store steps, certificate, volume, firmware, placement and endpoint: still markers of the run.
      for (const step of ['issueCertificate', 'prepareVolume', 'copyFirmware', 'writeEndpoint'])
        expect(scheduled(events, step)).toEqual([]);
      expect(localActivities(events)).toBe(8);
    },
    60_000,
  );

  it("does the same in the host child of a run started on the orchestrator's queue", async () => {
    await shapes.provision('shape-docker-orch', 'docker', 'orchestrator');
    const { prepare } = await shapes.histories('shape-docker-orch');
    expect(prepare, 'the run had a host child').toBeDefined();
    const events = prepare!.events!;
    expect(scheduled(events, 'startEmulator')).toHaveLength(1);
    expect(localActivities(events)).toBe(3);
    expect(startsOf('shape-docker-orch')).toEqual([
      expect.objectContaining({ isLocal: false, heartbeatTimeoutMs: 30_000, taskQueue: HOST_QUEUE }),
    ]);
  }, 60_000);
});
