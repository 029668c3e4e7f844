/** Turns validation failures into non-retryable workflow failures naming the field. */
import { ApplicationFailure } from '@temporalio/workflow';
import { ValidationError } from '../common/errors.js';

export function asNonRetryable<T>(validate: () => T): T {
  try {
    return validate();
  } catch (err) {
    if (err instanceof ValidationError) {
      throw ApplicationFailure.create({
        type: 'InvalidInput',
        message: err.message,
        nonRetryable: true,
        details: [{ field: err.field }],
      });
    }
    throw err;
  }
}
