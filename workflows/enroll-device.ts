/**
 * enrollDevice (`enroll-<device>`): a real board with a claim credential asks for a
 * certificate for its own key. Started (or signalled) by the gateway that holds the board's
 * EnrollmentRequest open; answers it over that connection through the gateway's
 * answerEnrollment activity, on that gateway's task queue.
 *
 *   validate the CSR and the name → create or match the Device (runtime external)
 *   → approve at once when pre-registered, else wait for an operator's approve/reject signal
 *   (with a timeout) → sign the board's public key → EnrollmentAccepted → await the board's
 *   session with its new certificate → Connected. Rejection or timeout answers
 *   EnrollmentRejected with the reason.
 *
 * A board that loses its connection while it waits re-sends the same CSR; the new request
 * (same key) replaces the old one. A request from another key for the same name is refused.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { EnrollmentActivities, SignedEnrollment } from '../activities/enrollment.js';
import { errorMessage } from '../common/errors.js';
import { FailureType } from '../common/failures.js';
import { validateDnsLabel } from '../common/validation.js';
import type { EnrollmentAnswer, GatewayActivities } from '../gateway/activities.js';
import { PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { asNonRetryable } from './errors.js';
import {
  approveSignal,
  enrollmentRequestSignal,
  rejectSignal,
  type EnrollDeviceInput,
  type EnrollDeviceResult,
  type EnrollmentRequestSignal,
} from './contracts/index.js';

const activities = proxyActivities<EnrollmentActivities>({
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '10s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [FailureType.EnrollmentRefused, FailureType.InvalidInput],
  },
});

function gateway(taskQueue: string, timeoutMs = 30_000) {
  return proxyActivities<GatewayActivities>({
    taskQueue,
    // A gateway that died leaves its queue without a worker: the board will ask elsewhere.
    scheduleToStartTimeout: '15s',
    startToCloseTimeout: timeoutMs,
    heartbeatTimeout: '10s',
    retry: {
      initialInterval: '1s',
      maximumAttempts: 2,
      nonRetryableErrorTypes: [FailureType.EnrollmentConnectionGone],
    },
  });
}

/** The activity's own failure message (a refusal's reason), not its wrapper's. */
function failureMessage(err: unknown): string {
  return errorMessage((err instanceof ActivityFailure && err.cause) || err);
}

function isRefusal(err: unknown): boolean {
  const inner = err instanceof ActivityFailure ? err.cause : err;
  return (
    inner instanceof ApplicationFailure &&
    (inner.type === FailureType.EnrollmentRefused || inner.type === FailureType.InvalidInput)
  );
}

function minutes(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}

export async function enrollDevice(input: EnrollDeviceInput): Promise<EnrollDeviceResult> {
  const name = asNonRetryable(() => validateDnsLabel('name', input.name));
  const approvalTimeoutMs = input.approvalTimeoutMs ?? 86_400_000;
  const reconnectTimeoutMs = input.reconnectTimeoutMs ?? 300_000;
  const queue: EnrollmentRequestSignal[] = [];
  let decision: { approved: true } | { approved: false; reason: string } | undefined;
  setHandler(enrollmentRequestSignal, (request) => void queue.push(request));
  setHandler(approveSignal, () => {
    decision ??= { approved: true };
  });
  setHandler(rejectSignal, (body) => {
    decision ??= { approved: false, reason: body?.reason?.trim() || 'rejected by an operator' };
  });

  /** Best effort: the board may already be gone; it then learns the outcome when it asks again. */
  const answer = async (request: EnrollmentRequestSignal, reply: Omit<EnrollmentAnswer, 'connectionId'>) => {
    await gateway(request.taskQueue).answerEnrollment({
      connectionId: request.connectionId,
      ...reply,
    } as EnrollmentAnswer);
  };
  const answerQuietly = (request: EnrollmentRequestSignal, reason: string) =>
    answer(request, { rejected: reason }).catch(() => undefined);

  await condition(() => queue.length > 0);
  let current = queue.shift()!;
  try {
    const begun = await activities.beginEnrollment(name, current);
    if (begun.preauthorized) decision = { approved: true };
  } catch (err) {
    if (!isRefusal(err)) throw err;
    const reason = failureMessage(err);
    await answerQuietly(current, reason);
    await activities.refuseClaim(current.claimId, reason);
    return { name, outcome: 'Rejected', reason };
  }

  /** Newer requests: the same key replaces the held one; another key is refused. */
  const takeNewer = async () => {
    while (queue.length > 0) {
      const next = queue.shift()!;
      if (next.csrFingerprint === current.csrFingerprint) {
        current = next;
        continue;
      }
      const reason = `device name "${name}" is being enrolled by another key`;
      await answerQuietly(next, reason);
      await activities.refuseClaim(next.claimId, reason);
    }
  };

  if (!decision) {
    upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'AwaitingApproval' }]);
    const deadline = Date.now() + approvalTimeoutMs;
    while (!decision && Date.now() < deadline) {
      await condition(() => decision !== undefined || queue.length > 0, deadline - Date.now());
      await takeNewer();
    }
    decision ??= {
      approved: false,
      reason: `not approved by an operator within ${minutes(approvalTimeoutMs)}`,
    };
    if (decision.approved) await activities.approveEnrollment(name);
  }
  if (!decision.approved) {
    upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Rejected' }]);
    await answerQuietly(current, decision.reason);
    await activities.rejectEnrollment(name, current.claimId, decision.reason);
    return { name, outcome: 'Rejected', reason: decision.reason };
  }

  const signed: SignedEnrollment = await activities.signEnrollmentCertificate(name, current);
  // Deliver over the held connection; if the board is gone, wait for it to ask again.
  for (;;) {
    try {
      await answer(current, { accepted: { certificatePem: signed.certificatePem, caPem: signed.caPem } });
      break;
    } catch {
      // The held connection is gone. A newer request may already be queued; else wait for one.
      const asked = queue.length > 0 || (await condition(() => queue.length > 0, reconnectTimeoutMs));
      if (!asked) {
        const message =
          'approved and signed, but the board did not pick up its certificate; it gets it when it asks again';
        await activities.markEnrollmentIncomplete(name, message);
        return { name, outcome: 'Incomplete', reason: message, certSerial: signed.identity.certSerial };
      }
      await takeNewer();
    }
  }

  try {
    await gateway(current.taskQueue, reconnectTimeoutMs).awaitDeviceSession({
      device: name,
      certSerial: signed.identity.certSerial,
    });
  } catch (err) {
    const message = `certificate delivered, but the board did not connect with it: ${failureMessage(err)}`;
    await activities.markEnrollmentIncomplete(name, message);
    return { name, outcome: 'Incomplete', reason: message, certSerial: signed.identity.certSerial };
  }
  await activities.completeEnrollment(name, current.claimId, current.gateway, signed.identity);
  upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Connected' }]);
  return { name, outcome: 'Enrolled', certSerial: signed.identity.certSerial };
}
