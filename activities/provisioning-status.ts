/**
 * How provisioning steps are recorded on the Device (status.steps, conditions) so the dashboard
 * can show them, whichever worker runs the step: the orchestrator (store and PKI steps) or the
 * device host that owns the device (volume and emulator steps).
 */
import { Context } from '@temporalio/activity';
import { errorMessage, WasmbedError } from '../common/errors.js';
import { toApplicationFailure } from '../common/failures.js';
import type { DeviceStatus, ProvisioningStep } from '../common/resources.js';
import type { ResourceStore } from '../store/resource-store.js';
import { PROVISIONING_STEPS } from '../workflows/contracts/index.js';

export function freshSteps(): ProvisioningStep[] {
  return PROVISIONING_STEPS.map((name) => ({ name, state: 'Pending' }));
}

export function setStep(status: DeviceStatus, name: string, patch: Partial<ProvisioningStep>): DeviceStatus {
  const steps = status.steps ?? freshSteps();
  const step = steps.find((s) => s.name === name);
  if (step) Object.assign(step, patch);
  return { ...status, steps };
}

export function setCondition(
  status: DeviceStatus,
  type: string,
  ok: boolean,
  reason: string,
  message: string,
): DeviceStatus {
  const conditions = status.conditions.filter((c) => c.type !== type);
  const previous = status.conditions.find((c) => c.type === type);
  const value = ok ? 'True' : 'False';
  conditions.push({
    type,
    status: value,
    reason,
    message,
    lastTransitionTime:
      previous && previous.status === value ? previous.lastTransitionTime : new Date().toISOString(),
  });
  return { ...status, conditions };
}

/**
 * A step that ends within this long is recorded once, as done (with its start time); a longer one
 * is also shown Running meanwhile. Most steps take a few milliseconds: two writes each were most of
 * provisioning's store writes, and every write re-renders the dashboard's live views.
 */
export const RUNNING_SHOWN_AFTER_MS = 250;

/** Runs one provisioning step and records it on the device so the dashboard can show it. */
export function stepRecorder(store: ResourceStore) {
  return async function step<T>(device: string, name: string, work: () => Promise<T> | T): Promise<T> {
    const startedAt = new Date().toISOString();
    let shownRunning: Promise<unknown> | undefined;
    const showRunning = () =>
      (shownRunning ??= store
        .updateStatus('Device', device, (s) =>
          setStep(s, name, { state: 'Running', startedAt, message: undefined }),
        )
        .catch(() => undefined)); // only a display: the step's outcome is written below either way
    const timer = setTimeout(() => void showRunning(), RUNNING_SHOWN_AFTER_MS);
    try {
      const result = await work();
      clearTimeout(timer);
      await shownRunning; // (the later write must land last)
      await store.updateStatus('Device', device, (s) =>
        setStep(s, name, {
          state: 'Succeeded',
          startedAt,
          finishedAt: new Date().toISOString(),
          message: undefined,
        }),
      );
      return result;
    } catch (err) {
      clearTimeout(timer);
      await shownRunning;
      const attempt = Context.current().info.attempt;
      const message = errorMessage(err);
      await store.updateStatus('Device', device, (s) =>
        setStep(s, name, { state: 'Running', startedAt, message: `attempt ${attempt}: ${message}` }),
      );
      // Typed by code: bad input, a missing emulator or a corrupt firmware copy fail at once.
      throw err instanceof WasmbedError ? toApplicationFailure(err) : err;
    }
  };
}
