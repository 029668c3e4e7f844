/** The failure vocabulary (common/failures.ts): pure logic, no Temporal server needed. */
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { errorMessage, ValidationError, WasmbedError } from '../common/errors.js';
import {
  describeFailure,
  FailureType,
  rootCause,
  rootCauseMessage,
  toApplicationFailure,
} from '../common/failures.js';
import { DatabaseUnavailableError, classify } from '../store/postgres/pool.js';

describe('toApplicationFailure', () => {
  it('turns a ValidationError into a non-retryable InvalidInput naming the field, keeping the cause', () => {
    const err = new ValidationError('mcuType', 'mcuType "Esp32" is not supported');
    const failure = toApplicationFailure(err);
    expect(failure.type).toBe(FailureType.InvalidInput);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe('mcuType "Esp32" is not supported');
    expect(failure.details).toEqual([{ field: 'mcuType' }]);
    expect(failure.cause).toBe(err);
  });

  it('types a WasmbedError by its code, failing at once only for permanent types', () => {
    const corrupt = toApplicationFailure(new WasmbedError('FirmwareCorrupted', 'sha256 mismatch'));
    expect(corrupt.type).toBe(FailureType.FirmwareCorrupted);
    expect(corrupt.nonRetryable).toBe(true);
    const busy = toApplicationFailure(new WasmbedError('TemporalUnavailable', 'try later'));
    expect(busy.type).toBe('TemporalUnavailable');
    expect(busy.nonRetryable).toBe(false);
  });

  it('makes a lost PostgreSQL connection a retryable DatabaseUnavailable, and leaves SQL errors alone', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const lost = classify(refused, 'read certificates');
    expect(lost).toBeInstanceOf(DatabaseUnavailableError);
    const failure = toApplicationFailure(lost);
    expect(failure.type).toBe(FailureType.DatabaseUnavailable);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toMatch(
      /PostgreSQL unavailable while trying to read certificates: connect ECONNREFUSED/,
    );
    // The server shutting down (57P01) and a socket closed under a query count too.
    expect(
      classify(Object.assign(new Error('terminating connection'), { code: '57P01' }), 'x'),
    ).toBeInstanceOf(DatabaseUnavailableError);
    expect(classify(new Error('Connection terminated unexpectedly'), 'x')).toBeInstanceOf(
      DatabaseUnavailableError,
    );
    // pg-pool's own message when no pooled connection came free in time (a reconnect storm
    // saturating the pool): the write was never sent, so it is retryable, not a lost write.
    expect(classify(new Error('timeout exceeded when trying to connect'), 'x')).toBeInstanceOf(
      DatabaseUnavailableError,
    );
    const unique = Object.assign(new Error('duplicate key'), { code: '23505' });
    expect(classify(unique, 'x')).toBe(unique);
  });

  it('lets the caller set type, message and retryability', () => {
    const cause = new Error('bad signature');
    const failure = toApplicationFailure(cause, { type: FailureType.EnrollmentRefused, message: 'refused' });
    expect([failure.type, failure.message, failure.nonRetryable, failure.cause]).toEqual([
      'EnrollmentRefused',
      'refused',
      true,
      cause,
    ]);
    expect(toApplicationFailure(new TypeError('x'), { nonRetryable: true }).type).toBe('TypeError');
    expect(toApplicationFailure('plain text').message).toBe('plain text');
  });

  it('returns an ApplicationFailure unchanged', () => {
    const failure = ApplicationFailure.retryable('again', FailureType.NoGatewayReady);
    expect(toApplicationFailure(failure)).toBe(failure);
  });
});

describe('rootCause and describeFailure', () => {
  const original = new Error('connection refused');
  const application = toApplicationFailure(original, { type: FailureType.DeviceNotConnected });
  const activity = new ActivityFailure(
    'activity failed',
    'awaitDeviceSession',
    '7',
    RetryState.MAXIMUM_ATTEMPTS_REACHED,
    undefined,
    application,
  );

  it('unwraps ActivityFailure → ApplicationFailure → the original error', () => {
    expect(rootCause(activity)).toBe(original);
    expect(rootCauseMessage(activity)).toBe('connection refused');
    expect(describeFailure(activity)).toBe('activity failed: connection refused');
  });

  it('gives the message alone for an error without a cause, and handles non-errors', () => {
    expect(rootCause(original)).toBe(original);
    expect(describeFailure(original)).toBe('connection refused');
    expect(describeFailure('boom')).toBe('boom');
    expect(rootCauseMessage(undefined)).toBe('undefined');
  });

  it('says a message once when the outer failure already carries it (an error made an ApplicationFailure)', () => {
    const invalid = new ValidationError('firmware', 'the qemu runtime needs a firmware ELF');
    expect(describeFailure(toApplicationFailure(invalid))).toBe('the qemu runtime needs a firmware ELF');
    const wrapped = { message: 'copy failed: disk full', cause: { message: 'disk full' } };
    expect(describeFailure(wrapped)).toBe('copy failed: disk full');
    // A different outer message is still followed by the innermost one.
    const activityOf = new ActivityFailure(
      'activity failed',
      'copyFirmware',
      '3',
      RetryState.NON_RETRYABLE_FAILURE,
      undefined,
      toApplicationFailure(invalid),
    );
    expect(describeFailure(activityOf)).toBe('activity failed: the qemu runtime needs a firmware ELF');
  });

  it('reads failures as stored in a workflow history (plain objects)', () => {
    const stored = { message: 'activity failed', cause: { message: 'timeout', cause: null } };
    expect(describeFailure(stored)).toBe('activity failed: timeout');
  });

  it('errorMessage is the message of an Error, else the value as text', () => {
    expect(errorMessage(new Error('x'))).toBe('x');
    expect(errorMessage(42)).toBe('42');
  });
});
