/**
 * A device a rollout has not reached yet (a later wave's, or one outside a paused canary) still
 * runs what it ran before. Its entry in the Application's status says so: the state it had,
 * marked `awaitingRollout`, instead of a Pending that read as if it ran nothing; and a rollback
 * does not call it RolledBack, nor a stop Stopped, where the app never ran. Pure functions, used
 * by the store activities (activities/applications.ts) and the gateway's writes of device reports.
 */
import { deviceState } from './application-status.js';
import type { AppDeviceState } from './resources.js';

/** The entry of a rollout's target as the rollout starts: what it had, marked; Pending if nothing. */
export function awaitingRollout(current: AppDeviceState | undefined): AppDeviceState {
  return { ...(current ?? deviceState('Pending')), awaitingRollout: true };
}

/**
 * What the device reports of the app, written over its entry. A device the rollout has not
 * reached reports on the version it still runs: the mark stays until the rollout records the
 * device itself (its Deploying comes before the device is sent the new version).
 */
export function withDeviceReport(
  current: AppDeviceState | undefined,
  reported: AppDeviceState,
): AppDeviceState {
  return current?.awaitingRollout ? { ...reported, awaitingRollout: true } : reported;
}

/** Once a rollout is over nothing awaits it: a device it did not reach keeps the state it had. */
export function rolloutOver(entry: AppDeviceState): AppDeviceState {
  if (!entry.awaitingRollout) return entry;
  const { awaitingRollout: _over, ...rest } = entry;
  return rest;
}

/**
 * What a rollback's RolledBack leaves as a device's entry. Where the rollout deployed, that: its
 * version was taken off the device. A device it never deployed to — still awaiting it, or left
 * Pending for its lifecycle (no session) — had nothing of it to roll back, and a RolledBack there
 * read as if it had run it: it keeps what it had, and, having had nothing (Pending), no entry
 * (null), so it is not listed as having the application at all.
 */
export function rolledBackEntry(
  current: AppDeviceState | undefined,
  rolledBack: AppDeviceState,
): AppDeviceState | null {
  if (neverRan(current)) return null;
  return current.awaitingRollout ? rolloutOver(current) : rolledBack;
}

/**
 * What a stop's Stopped leaves as a device's entry. The stop is sent to every device in the
 * Application's list, and a Stopped on one that never ran the app — left Pending for its
 * lifecycle, or awaiting a rollout of a new app (a paused canary's other devices) — listed it as
 * having the app (GET /devices?app=…): no entry (null). A device that ran a version of it, the
 * rollout's or the one it still ran while awaiting it, had that version stopped: Stopped.
 */
export function stoppedEntry(
  current: AppDeviceState | undefined,
  stopped: AppDeviceState,
): AppDeviceState | null {
  return neverRan(current) ? null : stopped;
}

/** What the store activities write for a state the workflow records, by the rules above. */
export function entryToRecord(
  current: AppDeviceState | undefined,
  recorded: AppDeviceState,
): AppDeviceState | null {
  if (recorded.state === 'RolledBack') return rolledBackEntry(current, recorded);
  if (recorded.state === 'Stopped') return stoppedEntry(current, recorded);
  return recorded;
}

/** No entry, or Pending (awaiting a rollout or not): nothing of the app was ever deployed there. */
function neverRan(
  current: AppDeviceState | undefined,
): current is undefined | (AppDeviceState & { state: 'Pending' }) {
  return !current || current.state === 'Pending';
}
