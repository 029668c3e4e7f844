/**
 * The error a service raises when Temporal does not start a workflow. The client's ServiceError
 * says only "Failed to start Workflow"; the server's reason is in its cause — e.g. "3
 * INVALID_ARGUMENT: Namespace default has no mapping defined for search attribute WasmbedDevice"
 * when the namespace lacks Wasmbed's search attributes — and the API, the CLI and the dashboard
 * showed only the first half, which sent the operator looking for a Temporal that was up.
 *
 * Which of two it is decides what the caller should do. Temporal down, overloaded or slow
 * (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, …) is `TemporalUnavailable` (HTTP 503: try
 * again). Temporal up and refusing — a namespace that does not exist, missing search attributes,
 * no permission — is `TemporalRefused` (HTTP 500): retrying changes nothing until the platform's
 * configuration is fixed, and a 503 for it had operators wait for a Temporal that was up.
 */
import { isGrpcServiceError } from '@temporalio/client';
import { WasmbedError, errorMessage } from '../common/errors.js';

/** gRPC status codes with which a reachable server refuses the request itself. */
const REFUSALS = new Map([
  [3, 'INVALID_ARGUMENT'],
  [5, 'NOT_FOUND'],
  [7, 'PERMISSION_DENIED'],
  [9, 'FAILED_PRECONDITION'],
  [12, 'UNIMPLEMENTED'],
  [16, 'UNAUTHENTICATED'],
]);

export function workflowStartError(err: unknown): WasmbedError {
  const reason =
    err instanceof Error && err.cause instanceof Error
      ? `${String(err)} (${err.cause.message})`
      : String(err);
  const refused = REFUSALS.has(grpcCode(err) ?? -1);
  return new WasmbedError(
    refused ? 'TemporalRefused' : 'TemporalUnavailable',
    `could not start workflow: ${reason}${refused ? ' — Temporal is up and refused it: check the platform’s Temporal settings (namespace, search attributes)' : ''}`,
    { cause: err },
  );
}

/** The gRPC status of the server's answer, wherever in the cause chain the client put it. */
function grpcCode(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (isGrpcServiceError(e)) return e.code;
  }
  return undefined;
}

/**
 * A bulk request none of whose workflows started: what the first failure was (unavailable or
 * refused, as workflowStartError tells them apart), with its message.
 */
export function noneStarted(what: string, firstError: unknown): WasmbedError {
  const code = firstError instanceof WasmbedError ? firstError.code : 'TemporalUnavailable';
  return new WasmbedError(code, `${what}: ${errorMessage(firstError)}`, { cause: firstError });
}
