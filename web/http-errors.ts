/** How errors become HTTP answers: the status of each typed error and the JSON error body. */
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NextFunction, Request, Response } from 'express';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  TooLargeError,
  UnprocessableError,
  ValidationError,
  WasmbedError,
  errorMessage,
} from '../common/errors.js';

export function statusOf(err: unknown): number {
  if (err instanceof UnprocessableError) return 422;
  if (err instanceof ValidationError) return 400;
  if (err instanceof TooLargeError) return 413;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof AlreadyExistsError || err instanceof ConflictError) return 409;
  if (err instanceof WasmbedError && err.code === 'TemporalUnavailable') return 503;
  return 500;
}

export function errorBody(err: unknown) {
  const code = err instanceof WasmbedError ? err.code : 'Internal';
  const message = errorMessage(err);
  const field = err instanceof ValidationError || err instanceof TooLargeError ? { field: err.field } : {};
  return { error: { code, message, ...field } };
}

/** The last handler: `{error: {code, message, field?}}` with the right status; 500s are counted. */
export function jsonErrorHandler(onServerError: () => void) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    const status =
      err instanceof SyntaxError ? 400 : (err as { status?: number }).status === 413 ? 413 : statusOf(err);
    if (status === 500) onServerError();
    res
      .status(status)
      .json(
        err instanceof SyntaxError
          ? { error: { code: 'InvalidJson', message: err.message } }
          : errorBody(err),
      );
  };
}

/**
 * Answers what Node's HTTP parser refuses before Express sees it with the API's JSON error body:
 * a request line and headers past its 16 KiB (a long list query) got an empty 431 that clients
 * could not read as an error. Anything else the parser refuses gets the plain 400 Node sends.
 */
export function answerParserErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
    const body = JSON.stringify({
      error: tooLarge
        ? { code: 'RequestTooLarge', message: 'the request line and headers pass 16 KiB: shorten the query' }
        : { code: 'BadRequest', message: 'the request could not be parsed' },
    });
    socket.end(
      `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
