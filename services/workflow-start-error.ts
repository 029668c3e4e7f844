/**
 * The error a service raises when Temporal does not start a workflow. The client's ServiceError
 * says only "Failed to start Workflow"; the server's reason is in its cause — e.g. "3
 * INVALID_ARGUMENT: Namespace default has no mapping defined for search attribute WasmbedDevice"
 * when the namespace lacks Wasmbed's search attributes — and the API, the CLI and the dashboard
 * showed only the first half, which sent the operator looking for a Temporal that was up.
 */
import { WasmbedError } from '../common/errors.js';

export function workflowStartError(err: unknown): WasmbedError {
  const reason =
    err instanceof Error && err.cause instanceof Error
      ? `${String(err)} (${err.cause.message})`
      : String(err);
  return new WasmbedError('TemporalUnavailable', `could not start workflow: ${reason}`, { cause: err });
}
