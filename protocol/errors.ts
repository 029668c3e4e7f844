/**
 * The one error type the wire codec throws. Every decoder in protocol/ throws only
 * ProtocolError, whatever bytes it is given, so a session can catch exactly this class,
 * log `reason` and close the connection (see docs/protocol.md, "Errors").
 */
import { WasmbedError } from '../common/errors.js';

export const PROTOCOL_ERROR_REASONS = [
  /** The input ended inside an item, or a length claims more bytes than remain. */
  'Truncated',
  /** Bytes remain after the top-level item. */
  'TrailingBytes',
  /** An indefinite-length byte string, text string, array or map. */
  'IndefiniteLength',
  /** An integer or length not in its shortest form, or map keys out of canonical order. */
  'NonCanonical',
  /** A value of the wrong type: a field, or a CBOR feature outside the subset (tag, float, undefined, simple). */
  'WrongType',
  /** An envelope or message body (or a fixed-shape inner array) with the wrong number of items. */
  'WrongArrayLength',
  /** A message tag this version does not define. */
  'UnknownTag',
  /** An envelope version other than PROTOCOL_VERSION. */
  'UnsupportedVersion',
  /** A frame length header above the maximum. */
  'FrameTooLarge',
  /** The same key twice in one map. */
  'DuplicateMapKey',
  /** Arrays and maps nested deeper than MAX_NESTING_DEPTH. */
  'NestingTooDeep',
  /** An integer beyond ±Number.MAX_SAFE_INTEGER, or beyond a field's range (messageId > 2^32-1). */
  'IntegerOutOfRange',
  /** A text string that is not well-formed UTF-8 (or, when encoding, a lone UTF-16 surrogate). */
  'InvalidUtf8',
  /** A well-typed value outside the field's enumeration (ApplicationStatus state, Log level). */
  'InvalidValue',
  /**
   * Not well-formed CBOR: reserved additional information 28-30, indefinite length on an integer or
   * tag, or a break stop code (0xff) outside an indefinite-length item.
   */
  'Malformed',
  /**
   * Safety net only: the decoder met a condition it did not anticipate (a bug). The original error is
   * the `cause`. Tests assert that no input produces it.
   */
  'Internal',
] as const;

export type ProtocolErrorReason = (typeof PROTOCOL_ERROR_REASONS)[number];

export function isProtocolErrorReason(value: unknown): value is ProtocolErrorReason {
  return typeof value === 'string' && (PROTOCOL_ERROR_REASONS as readonly string[]).includes(value);
}

export interface ProtocolErrorDetails {
  cause?: unknown;
  /** Path of the offending field, e.g. "DeployApplication.module" or "envelope.messageId". */
  field?: string;
  /** Byte offset in the decoded buffer where the problem was found (CBOR-level errors). */
  offset?: number;
  /** For UnknownTag: the envelope's messageId, so a receiver can log which message it ignored. */
  messageId?: number;
  /** For UnknownTag: the tag that was not recognised. */
  tag?: number;
}

export class ProtocolError extends WasmbedError {
  readonly field?: string;
  readonly offset?: number;
  readonly messageId?: number;
  readonly tag?: number;

  constructor(
    readonly reason: ProtocolErrorReason,
    message: string,
    details: ProtocolErrorDetails = {},
  ) {
    super(
      'ProtocolError',
      `${reason}: ${message}`,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    if (details.field !== undefined) this.field = details.field;
    if (details.offset !== undefined) this.offset = details.offset;
    if (details.messageId !== undefined) this.messageId = details.messageId;
    if (details.tag !== undefined) this.tag = details.tag;
  }
}
