/** Turns validation failures into non-retryable workflow failures naming the field. */
import { ValidationError } from '../common/errors.js';
import { toApplicationFailure } from '../common/failures.js';

export function asNonRetryable<T>(validate: () => T): T {
  try {
    return validate();
  } catch (err) {
    throw err instanceof ValidationError ? toApplicationFailure(err) : err;
  }
}
