/**
 * The step timeline's reading of a workflow history (web/timeline.ts): regular activities, and
 * local activities, which appear only as the marker the SDK records when they end. The marker
 * below has the shape a real Temporal server (CLI 1.9.1, SDK 1.24) returned for a local activity;
 * test/openapi.test.ts and test/dashboard.test.ts read real histories end to end; hostChildOf finds
 * provisioning's host child, whose history holds the host's steps.
 */
import { describe, expect, it } from 'vitest';
import { timelineList, when } from '../web/pages/device.js';
import { activitiesFromHistory, collapseRepeats, hostChildOf } from '../web/timeline.js';

const at = (seconds: number) => ({ seconds, nanos: 0 });
function marker(data: object, failure?: { message: string }) {
  return {
    eventId: 9,
    eventTime: at(1_796_203_790),
    markerRecordedEventAttributes: {
      markerName: 'core_local_activity',
      details: { data: { payloads: [{ data: new TextEncoder().encode(JSON.stringify(data)) }] } },
      failure: failure ?? null,
    },
  };
}

describe('activitiesFromHistory', () => {
  it('lists local activities from their markers, in order with the regular ones', () => {
    const events = [
      marker({ seq: 1, attempt: 1, activity_id: '1', activity_type: 'beginProvisioning' }),
      {
        eventId: 10,
        eventTime: at(1_796_203_791),
        activityTaskScheduledEventAttributes: { activityType: { name: 'awaitDeviceSession' } },
      },
      { eventId: 11, activityTaskStartedEventAttributes: { scheduledEventId: 10, attempt: 1 } },
      {
        eventId: 12,
        eventTime: at(1_796_203_792),
        activityTaskCompletedEventAttributes: { scheduledEventId: 10 },
      },
      marker(
        { seq: 2, attempt: 3, activity_id: '2', activity_type: 'markConnected' },
        { message: 'store busy' },
      ),
    ];
    expect(activitiesFromHistory(events)).toEqual([
      {
        name: 'beginProvisioning',
        state: 'Succeeded',
        attempt: 1,
        startedAt: '2026-12-02T09:29:50.000Z',
        finishedAt: '2026-12-02T09:29:50.000Z',
        message: undefined,
        local: true,
      },
      {
        name: 'awaitSession',
        state: 'Succeeded',
        attempt: 1,
        startedAt: '2026-12-02T09:29:51.000Z',
        finishedAt: '2026-12-02T09:29:52.000Z',
      },
      {
        name: 'markConnected',
        state: 'Failed',
        attempt: 3,
        startedAt: '2026-12-02T09:29:50.000Z',
        finishedAt: '2026-12-02T09:29:50.000Z',
        message: 'store busy',
        local: true,
      },
    ]);
  });

  it('skips markers that are not local activities, and ones it cannot read', () => {
    const patch = {
      eventId: 3,
      markerRecordedEventAttributes: { markerName: 'core_patch', details: {} },
    };
    const garbled = marker({});
    garbled.markerRecordedEventAttributes.details.data.payloads[0]!.data = new TextEncoder().encode(
      '{not json',
    );
    expect(activitiesFromHistory([patch, garbled])).toEqual([]);
  });
});

describe('hostChildOf', () => {
  it("finds the run of provisioning's host child a history started, and ignores other children", () => {
    const lifecycle = {
      eventId: 20,
      childWorkflowExecutionStartedEventAttributes: {
        workflowType: { name: 'deviceLifecycle' },
        workflowExecution: { workflowId: 'lifecycle-d', runId: 'r0' },
      },
    };
    const child = {
      eventId: 7,
      childWorkflowExecutionStartedEventAttributes: {
        workflowType: { name: 'prepareDeviceOnHost' },
        workflowExecution: { workflowId: 'prepare-d', runId: 'r1' },
      },
    };
    expect(hostChildOf([lifecycle, child])).toEqual({ workflowId: 'prepare-d', runId: 'r1' });
    expect(hostChildOf([lifecycle])).toBeUndefined();
  });
});

describe("the device page's step times", () => {
  it('shows a local step\'s time without the "(0 ms)" its marker implies, and a regular step\'s duration', () => {
    const [local, regular] = activitiesFromHistory([
      marker({ seq: 1, attempt: 1, activity_id: '1', activity_type: 'prepareVolume' }),
      {
        eventId: 10,
        eventTime: at(1_796_203_791),
        activityTaskScheduledEventAttributes: { activityType: { name: 'awaitDeviceSession' } },
      },
      {
        eventId: 12,
        eventTime: at(1_796_203_792),
        activityTaskCompletedEventAttributes: { scheduledEventId: 10 },
      },
    ]);
    expect(when(local!)).toBe('09:29:50.000');
    expect(when(regular!)).toBe('09:29:51.000 (1000 ms)');
  });
});

describe('the recovery timeline', () => {
  it('shows repeated health checks as a note, and only a failure in the error colour', () => {
    const check = (state: 'Succeeded' | 'Failed', second: number) => ({
      name: 'checkDeviceHealth',
      state,
      startedAt: new Date(1_796_203_790_000 + second * 1000).toISOString(),
      ...(state === 'Failed' ? { message: 'gateway gone' } : {}),
    });
    const entries = collapseRepeats([check('Succeeded', 0), check('Succeeded', 1), check('Failed', 2)]);
    const list = timelineList(entries, 'recovery').value;
    expect(list).toMatch(/<span class="note">×2, last at 2026-12-02T09:29:51.000Z<\/span>/);
    expect(list).toMatch(/<span class="msg">gateway gone<\/span>/);
  });
});
