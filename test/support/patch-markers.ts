/**
 * The patch markers a workflow history holds (`patched(…)` records each as a `core_patch` marker
 * whose `patch-data` payload is `{ id, deprecated }`), in the order they were recorded.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type proto from '@temporalio/proto';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

export function patchMarkersOf(events: readonly HistoryEvent[]): string[] {
  return events.flatMap((event) => {
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_patch') return [];
    const payload = marker.details?.['patch-data']?.payloads?.[0];
    if (!payload) throw new Error(`patch marker without patch-data in event ${String(event.eventId)}`);
    return [defaultPayloadConverter.fromPayload<{ id: string }>(payload).id];
  });
}
