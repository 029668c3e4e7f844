/**
 * Typed errors shared by every process. Each carries a stable `code` so that API
 * handlers, activities and the dashboard can react without parsing messages, and an
 * optional `cause` so the original failure is never lost.
 */
export class WasmbedError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input that can never succeed, whatever the number of retries. `field` names the culprit. */
export class ValidationError extends WasmbedError {
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('InvalidInput', message, options);
  }
}

/**
 * Well-formed input whose content cannot be used: a module that is not valid WebAssembly or
 * does not fit its targets, a hash of no uploaded module. No schema can state these rules, so
 * the API answers 422 instead of 400 (400 means the request breaks its schema).
 */
export class UnprocessableError extends ValidationError {}

/** A request body (or a part of it) over its size limit. `field` names what was too large. */
export class TooLargeError extends WasmbedError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('TooLarge', message);
  }
}

export class NotFoundError extends WasmbedError {
  constructor(
    readonly kind: string,
    readonly resourceName: string,
  ) {
    super('NotFound', `${kind} "${resourceName}" not found`);
  }
}

export class AlreadyExistsError extends WasmbedError {
  constructor(
    readonly kind: string,
    readonly resourceName: string,
  ) {
    super('AlreadyExists', `${kind} "${resourceName}" already exists`);
  }
}

/** Optimistic concurrency failure: somebody else changed the resource first. */
export class ConflictError extends WasmbedError {
  constructor(message: string) {
    super('Conflict', message);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * An emulator this worker cannot run (not installed, image unavailable): retrying cannot help
 * until an operator acts, so the provisioning step fails at once. The message says what is
 * missing and how to fix it.
 */
export class EmulatorUnavailableError extends WasmbedError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EmulatorUnavailable', message, options);
  }
}
