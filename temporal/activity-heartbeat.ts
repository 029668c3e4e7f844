/**
 * Heartbeats of an activity that works for a while. The server learns that it is alive (its
 * heartbeatTimeout fails an attempt whose worker died long before its startToCloseTimeout), and
 * only a heartbeating activity is told of a cancellation.
 */
import { Context } from '@temporalio/activity';

/** Runs `work`, heartbeating `details()` every `everyMs` until it ends. */
export async function whileHeartbeating<T>(
  work: () => Promise<T>,
  details: () => unknown = () => undefined,
  everyMs = 1000,
): Promise<T> {
  const context = Context.current();
  // A local activity cannot heartbeat: its workflow task's own heartbeats keep it alive.
  if (context.info.isLocal) return work();
  const beat = setInterval(() => context.heartbeat(details()), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}
