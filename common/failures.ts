/**
 * The platform's failure vocabulary. Every ApplicationFailure it raises has a `type` from
 * FailureType (retry policies, handlers and tests name them through it, never by a string);
 * `toApplicationFailure` is the one way an error becomes one; `rootCause` / `describeFailure`
 * are the one way to see what really went wrong under Temporal's wrapping (ActivityFailure →
 * ApplicationFailure → the original error). Workflow-safe: activities and workflows share it.
 */
import { ApplicationFailure } from '@temporalio/common';
import { errorMessage, ValidationError, WasmbedError } from './errors.js';

export const FailureType = {
  /** Input that can never succeed; `details[0].field` names the culprit. */
  InvalidInput: 'InvalidInput',
  NotFound: 'NotFound',
  /** A firmware copy whose SHA-256 is not the image's. */
  FirmwareCorrupted: 'FirmwareCorrupted',
  /** The emulator is not installed or its image is unavailable on this worker. */
  EmulatorUnavailable: 'EmulatorUnavailable',
  /** No gateway reported Ready recently; devices wait for one. */
  NoGatewayReady: 'NoGatewayReady',
  /** No device host registered recently; devices wait for one. */
  NoHostReady: 'NoHostReady',
  /** The device belongs to another device host now: this one must not run it. */
  NotDeviceOwner: 'NotDeviceOwner',
  /** The device has no session on this gateway (it may be reconnecting). */
  DeviceNotConnected: 'DeviceNotConnected',
  /** A board's enrollment is refused; the message is what the board is told. */
  EnrollmentRefused: 'EnrollmentRefused',
  /** The board's held enrollment connection closed before its answer. */
  EnrollmentConnectionGone: 'EnrollmentConnectionGone',
  /** The lifecycle gave up bringing a device back. */
  RecoveryFailed: 'RecoveryFailed',
  /** A provisioning step on the device's host failed; `details[0]` names the step. */
  HostStepFailed: 'HostStepFailed',
  /**
   * The shared database (PostgreSQL) could not be reached: restarting, failing over, cut off.
   * Retryable: the activity runs again once it is back (store/postgres/pool.ts).
   */
  DatabaseUnavailable: 'DatabaseUnavailable',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Types no retry can fix until someone acts: they fail at once wherever they are raised. */
const PERMANENT: ReadonlySet<string> = new Set<string>([
  FailureType.InvalidInput,
  FailureType.FirmwareCorrupted,
  FailureType.EmulatorUnavailable,
  FailureType.EnrollmentRefused,
  FailureType.NotDeviceOwner,
]);

/**
 * An error as an ApplicationFailure, keeping it as the cause. The type is `options.type`, else
 * a WasmbedError's code (a plain Error would otherwise surface as its class name, which no
 * retry policy names), else the error's name. Retryable unless the type is permanent or
 * `options.nonRetryable` says otherwise. A ValidationError keeps its field in `details`.
 */
export function toApplicationFailure(
  err: unknown,
  options: { type?: FailureType | string; message?: string; nonRetryable?: boolean } = {},
): ApplicationFailure {
  if (err instanceof ApplicationFailure && options.type === undefined && options.message === undefined)
    return err;
  const type =
    options.type ?? (err instanceof WasmbedError ? err.code : err instanceof Error ? err.name : 'Error');
  return ApplicationFailure.create({
    type,
    message: options.message ?? errorMessage(err),
    nonRetryable: options.nonRetryable ?? PERMANENT.has(type),
    details: err instanceof ValidationError ? [{ field: err.field }] : undefined,
    cause: err instanceof Error ? err : undefined,
  });
}

/** What a failure chain looks like: Errors, or Temporal failures as stored in a history. */
interface FailureLink {
  message?: string | null;
  cause?: unknown;
}

/** The innermost cause of a chain (the error itself when it has none). */
export function rootCause<T>(failure: T): T {
  let inner: unknown = failure;
  while (isLink(inner) && isLink(inner.cause)) inner = inner.cause;
  return inner as T;
}

/**
 * "outer: innermost" (just the message when there is no cause), for an operator to read. An
 * outer message that already says the innermost one — toApplicationFailure keeps the error's own
 * message, with the error as its cause — is not followed by it a second time.
 */
export function describeFailure(failure: unknown): string {
  const inner = rootCause(failure);
  const outer = messageOf(failure);
  if (inner === failure) return outer;
  const innermost = messageOf(inner);
  return outer === innermost || outer.endsWith(`: ${innermost}`) ? outer : `${outer}: ${innermost}`;
}

/** The innermost cause's message: why it really failed, without the wrappers. */
export function rootCauseMessage(failure: unknown): string {
  return messageOf(rootCause(failure));
}

function isLink(value: unknown): value is FailureLink {
  return typeof value === 'object' && value !== null;
}

function messageOf(failure: unknown): string {
  if (failure instanceof Error) return failure.message;
  if (isLink(failure)) return typeof failure.message === 'string' ? failure.message : '';
  return errorMessage(failure);
}
