/**
 * Derives an Application's counts (and, once its rollout is over, its phase) from the
 * per-device states. Workflow-safe: pure functions.
 */
import type { AppDeviceState, ApplicationSpec, ApplicationStatus, Device } from './resources.js';

/** Whether an application's target (devices, selector or all) covers the device. */
export function targetsDevice(target: ApplicationSpec['target'], device: Device): boolean {
  if (target.devices) return target.devices.includes(device.metadata.name);
  if (target.selector) {
    const labels = { ...device.spec.labels, ...device.metadata.labels };
    return Object.entries(target.selector).every(([k, v]) => labels[k] === v);
  }
  return target.all === true;
}

export function summarize(status: ApplicationStatus): ApplicationStatus {
  const entries = Object.values(status.devices);
  // A device the rollout has not reached yet counts as pending whatever its previous version
  // does: the counts are the rollout's progress (or a canary of 1 in 10, paused, counted 10 running).
  const states = entries.filter((d) => !d.awaitingRollout);
  const running = states.filter((d) => d.state === 'Running' || d.state === 'Exited').length;
  const failed = states.filter((d) => d.state === 'Failed').length;
  const pending =
    states.filter((d) => d.state === 'Pending' || d.state === 'Deploying').length +
    (entries.length - states.length);
  const counts = { targeted: entries.length, running, failed, pending };
  let phase = status.phase;
  // During a rollout the workflow owns the phase; afterwards devices may still change it.
  if (phase === 'Running' || phase === 'PartiallyRunning') {
    phase = failed === 0 && pending === 0 ? 'Running' : 'PartiallyRunning';
  }
  return { ...status, counts, phase };
}

export function deviceState(
  state: AppDeviceState['state'],
  error: string | null = null,
  restarts = 0,
  now = new Date().toISOString(),
): AppDeviceState {
  return { state, error, restarts, since: now };
}
