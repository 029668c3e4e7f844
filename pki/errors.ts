/**
 * Errors raised by the PKI. Bad caller input (a malformed device name, a 1024-bit key, ...)
 * is a `ValidationError` from common/errors.ts; everything else is a `PkiError` with a
 * stable code, the file concerned (when there is one) and the original failure as `cause`.
 */
import { WasmbedError } from '../common/errors.js';

export type PkiErrorCode =
  /** ca.crt or ca.key exists but cannot be read, parsed, is not a CA, or the two do not match. */
  | 'PkiCaCorrupt'
  /** ca.crt exists but ca.key is missing: the CA cannot sign and is never silently replaced. */
  | 'PkiCaKeyMissing'
  /** The CA certificate is expired (or not yet valid), so nothing it signs would verify. */
  | 'PkiCaExpired'
  /** File-system failure while creating or reading the CA directory. */
  | 'PkiStorage'
  /** A certificate or key handed to the PKI could not be parsed. */
  | 'PkiInvalidCertificate'
  /** The certificate store refused an operation (SQLite error other than the expected races). */
  | 'PkiRepository';

export class PkiError extends WasmbedError {
  /** Absolute path of the file the error is about, when there is one. */
  readonly file: string | undefined;

  constructor(
    override readonly code: PkiErrorCode,
    message: string,
    options?: { cause?: unknown; file?: string },
  ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.file = options?.file;
  }
}
