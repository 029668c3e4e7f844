/**
 * A device's provisioning step timeline, read from its workflow's event history in Temporal
 * (the source of truth: attempts, failures and times), falling back to `status.steps` when
 * Temporal cannot answer. The recovery timeline comes from the `lifecycle-<device>` history.
 */
import { describeFailure } from '../common/failures.js';
import type { Client } from '@temporalio/client';
import type { Device } from '../common/resources.js';
import {
  lifecycleWorkflowId,
  prepareDeviceOnHostWorkflow,
  PROVISIONING_STEPS,
} from '../workflows/contracts/index.js';

export interface TimelineEntry {
  name: string;
  state: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Canceled' | 'TimedOut';
  attempt?: number;
  startedAt?: string;
  finishedAt?: string;
  message?: string;
  /**
   * A local activity, known only from the marker recorded when its workflow task ended: its
   * times are that event's, so it has no duration of its own to show.
   */
  local?: true;
}

export interface Timeline {
  source: 'history' | 'status';
  workflowId?: string;
  runId?: string;
  workflowStatus?: string;
  steps: TimelineEntry[];
  recovery?: TimelineEntry[];
}

/** Activity type → the step it implements, where they are named differently. */
const STEP_OF_ACTIVITY: Record<string, string> = { awaitDeviceSession: 'awaitSession' };

type Ts = { seconds?: unknown; nanos?: number | null } | null | undefined;
function iso(ts: Ts): string | undefined {
  if (!ts) return undefined;
  const seconds = Number(String(ts.seconds ?? 0));
  return new Date(seconds * 1000 + (ts.nanos ?? 0) / 1e6).toISOString();
}
const id = (v: unknown) => String(v ?? '');

interface HistoryEvent {
  eventId?: unknown;
  eventTime?: Ts;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
  activityTaskStartedEventAttributes?: { scheduledEventId?: unknown; attempt?: number | null } | null;
  activityTaskCompletedEventAttributes?: { scheduledEventId?: unknown } | null;
  activityTaskFailedEventAttributes?: { scheduledEventId?: unknown; failure?: Failure | null } | null;
  activityTaskTimedOutEventAttributes?: { scheduledEventId?: unknown; failure?: Failure | null } | null;
  activityTaskCanceledEventAttributes?: { scheduledEventId?: unknown } | null;
  childWorkflowExecutionStartedEventAttributes?: {
    workflowType?: { name?: string | null } | null;
    workflowExecution?: { workflowId?: string | null; runId?: string | null } | null;
  } | null;
  markerRecordedEventAttributes?: {
    markerName?: string | null;
    details?: Record<string, { payloads?: { data?: Uint8Array | string | null }[] | null }> | null;
    failure?: Failure | null;
  } | null;
}
interface Failure {
  message?: string | null;
  cause?: Failure | null;
}

function failureMessage(f: Failure | null | undefined): string | undefined {
  return f ? describeFailure(f) || undefined : undefined;
}

/**
 * The marker the SDK records for a local activity when it ends (`core_local_activity`): its
 * `data` detail is JSON with the activity's type and attempt (snake_case). A local activity that is
 * still running or retrying has no event yet.
 */
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

interface LocalActivityMarkerData {
  activity_type?: string;
  attempt?: number;
}

function localActivityEntry(e: HistoryEvent): TimelineEntry | undefined {
  const marker = e.markerRecordedEventAttributes;
  if (marker?.markerName !== LOCAL_ACTIVITY_MARKER) return undefined;
  const raw = marker.details?.data?.payloads?.[0]?.data;
  if (!raw) return undefined;
  let data: LocalActivityMarkerData;
  try {
    data = JSON.parse(
      typeof raw === 'string' ? Buffer.from(raw, 'base64').toString() : Buffer.from(raw).toString(),
    );
  } catch {
    return undefined;
  }
  const type = data.activity_type ?? 'activity';
  return {
    name: STEP_OF_ACTIVITY[type] ?? type,
    state: marker.failure ? 'Failed' : 'Succeeded',
    attempt: data.attempt,
    // The marker's own times come from the worker's clocks; the event's time is the server's,
    // like every other entry's. A local step lasts milliseconds: both ends are that time.
    startedAt: iso(e.eventTime),
    finishedAt: iso(e.eventTime),
    message: failureMessage(marker.failure),
    local: true,
  };
}

/** Every activity of a history (local ones once they ended), in the order it was scheduled. */
export function activitiesFromHistory(events: HistoryEvent[]): TimelineEntry[] {
  const byScheduled = new Map<string, TimelineEntry>();
  const order: TimelineEntry[] = [];
  for (const e of events) {
    const local = localActivityEntry(e);
    if (local) {
      order.push(local);
      continue;
    }
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const type = scheduled.activityType?.name ?? 'activity';
      const entry: TimelineEntry = {
        name: STEP_OF_ACTIVITY[type] ?? type,
        state: 'Running',
        startedAt: iso(e.eventTime),
      };
      byScheduled.set(id(e.eventId), entry);
      order.push(entry);
      continue;
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const entry = byScheduled.get(id(started.scheduledEventId));
      if (entry) entry.attempt = started.attempt ?? undefined;
      continue;
    }
    const done =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskTimedOutEventAttributes ??
      e.activityTaskCanceledEventAttributes;
    if (!done) continue;
    const entry = byScheduled.get(id(done.scheduledEventId));
    if (!entry) continue;
    entry.finishedAt = iso(e.eventTime);
    if (e.activityTaskCompletedEventAttributes) entry.state = 'Succeeded';
    else if (e.activityTaskFailedEventAttributes) {
      entry.state = 'Failed';
      entry.message = failureMessage(e.activityTaskFailedEventAttributes.failure);
    } else if (e.activityTaskTimedOutEventAttributes) {
      entry.state = 'TimedOut';
      entry.message = failureMessage(e.activityTaskTimedOutEventAttributes.failure);
    } else entry.state = 'Canceled';
  }
  return order;
}

/**
 * The run of provisioning's host child (prepareDeviceOnHost) a history started, if any: its
 * local activities are the host's steps of this provisioning run.
 */
export function hostChildOf(events: HistoryEvent[]): { workflowId: string; runId?: string } | undefined {
  for (const e of events) {
    const started = e.childWorkflowExecutionStartedEventAttributes;
    if (started?.workflowType?.name !== prepareDeviceOnHostWorkflow.workflowType) continue;
    const execution = started.workflowExecution;
    if (execution?.workflowId)
      return { workflowId: execution.workflowId, runId: execution.runId ?? undefined };
  }
  return undefined;
}

/** Periodic health checks repeat: show a run of identical successes as one entry with a count. */
export function collapseRepeats(entries: TimelineEntry[]): TimelineEntry[] {
  const out: (TimelineEntry & { times?: number })[] = [];
  for (const e of entries) {
    const prev = out[out.length - 1];
    if (prev && prev.name === e.name && prev.state === 'Succeeded' && e.state === 'Succeeded') {
      prev.times = (prev.times ?? 1) + 1;
      prev.message = `×${prev.times}, last at ${e.startedAt ?? ''}`;
      continue;
    }
    out.push({ ...e });
  }
  return out.map(({ times: _t, ...e }) => e);
}

function fromStatus(device: Device): Timeline {
  return {
    source: 'status',
    workflowId: device.status.workflowId,
    steps: (
      device.status.steps ?? PROVISIONING_STEPS.map((name) => ({ name, state: 'Pending' as const }))
    ).map((s) => ({ ...s })),
  };
}

export async function deviceTimeline(client: Client | undefined, device: Device): Promise<Timeline> {
  const workflowId = device.status.workflowId;
  if (!client || !workflowId) return fromStatus(device);
  try {
    const handle = client.workflow.getHandle(workflowId);
    const [history, description] = await Promise.all([handle.fetchHistory(), handle.describe()]);
    const events = (history.events ?? []) as HistoryEvent[];
    const activities = activitiesFromHistory(events);
    // The host's steps are local activities: of this run when it ran on the device's host, else
    // of a child workflow there, whose history holds their markers.
    const child = hostChildOf(events);
    if (child) {
      const childHistory = await client.workflow.getHandle(child.workflowId, child.runId).fetchHistory();
      activities.push(...activitiesFromHistory((childHistory.events ?? []) as HistoryEvent[]));
    }
    const pending = description.raw.pendingActivities ?? [];
    const steps = PROVISIONING_STEPS.map((name): TimelineEntry => {
      const runs = activities.filter((a) => a.name === name);
      const last = runs[runs.length - 1];
      // A local activity still running (or retrying) has no marker yet: the step's own record
      // (status.steps, written by the activity) says Running and why it retries.
      const recorded = device.status.steps?.find((s) => s.name === name);
      if (!last && recorded?.state === 'Running') return { ...recorded };
      if (!last) return { name, state: 'Pending' };
      if (last.state === 'Running') {
        // Still retrying: the history has no Started event until the last attempt ends.
        const info = pending.find(
          (p) => (STEP_OF_ACTIVITY[p.activityType?.name ?? ''] ?? p.activityType?.name) === name,
        );
        if (info) {
          last.attempt = info.attempt ?? undefined;
          last.message = failureMessage(info.lastFailure as Failure | null) ?? last.message;
        }
      }
      return last;
    });
    const timeline: Timeline = {
      source: 'history',
      workflowId,
      runId: description.runId,
      workflowStatus: description.status.name,
      steps,
    };
    try {
      const lifecycle = await client.workflow
        .getHandle(lifecycleWorkflowId(device.metadata.name))
        .fetchHistory();
      timeline.recovery = collapseRepeats(
        activitiesFromHistory((lifecycle.events ?? []) as HistoryEvent[]),
      ).slice(-20);
    } catch {
      // no lifecycle workflow yet
    }
    return timeline;
  } catch {
    return fromStatus(device);
  }
}

/** Caches timelines per device while nothing that could change them changed. */
export class TimelineCache {
  private readonly entries = new Map<string, { key: string; at: number; value: Promise<Timeline> }>();

  constructor(
    private readonly client: Client | undefined,
    private readonly maxAgeMs = 3000,
  ) {}

  get(device: Device): Promise<Timeline> {
    const s = device.status;
    const key = `${s.workflowId}|${s.phase}|${JSON.stringify(s.steps ?? [])}`;
    const hit = this.entries.get(device.metadata.name);
    if (hit && hit.key === key && Date.now() - hit.at < this.maxAgeMs) return hit.value;
    const value = deviceTimeline(this.client, device);
    this.entries.set(device.metadata.name, { key, at: Date.now(), value });
    if (this.entries.size > 500) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }
}
