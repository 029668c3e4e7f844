/**
 * Stream framing: every message travels as a 4-byte unsigned big-endian length N followed by
 * N bytes of payload (one CBOR envelope). See docs/protocol.md, "Framing".
 */
import { ProtocolError } from './errors.js';
import { type Envelope, encodeEnvelope } from './messages.js';

export const FRAME_HEADER_BYTES = 4;
/** Default maximum payload size (the length N, not counting the 4-byte header). */
export const DEFAULT_MAX_FRAME_BYTES = 256 * 1024;
/** The largest length a 4-byte header can carry. */
export const MAX_FRAME_LENGTH_FIELD = 0xffff_ffff;

function checkMax(maxFrameBytes: number): void {
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 0 || maxFrameBytes > MAX_FRAME_LENGTH_FIELD) {
    throw new RangeError(
      `maxFrameBytes must be an integer in 0..${MAX_FRAME_LENGTH_FIELD} (got ${maxFrameBytes})`,
    );
  }
}

function tooLarge(length: number, maxFrameBytes: number): ProtocolError {
  return new ProtocolError(
    'FrameTooLarge',
    `frame of ${length} bytes exceeds the maximum of ${maxFrameBytes} bytes`,
  );
}

/**
 * Prefixes `payload` with its length. Refuses (FrameTooLarge) a payload the receiver would
 * refuse, so that an oversized message fails at the sender instead of closing the session.
 */
export function encodeFrame(payload: Uint8Array, maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES): Buffer {
  checkMax(maxFrameBytes);
  if (payload.length > maxFrameBytes) throw tooLarge(payload.length, maxFrameBytes);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** encodeEnvelope + encodeFrame. */
export function encodeMessageFrame(env: Envelope, maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES): Buffer {
  return encodeFrame(encodeEnvelope(env), maxFrameBytes);
}

/**
 * Incremental frame decoder for one byte stream. Feed it whatever the socket delivers; it
 * returns every frame completed so far (each a fresh Buffer that does not alias the input).
 *
 * A length header above maxFrameBytes throws ProtocolError('FrameTooLarge') at once, before
 * any of the body is buffered; the decoder is then failed for good (the stream cannot be
 * resynchronised) and every later push throws the same error. Frames completed earlier in the
 * same chunk are discarded with it: the connection is being closed for a protocol violation.
 *
 * Memory use is bounded by maxFrameBytes + 4 whatever the peer sends.
 */
export class FrameDecoder {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;
  private failure: ProtocolError | null = null;

  constructor(readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    checkMax(maxFrameBytes);
  }

  /** Bytes of an incomplete frame held (header bytes included). 0 at a frame boundary. */
  get bufferedBytes(): number {
    return this.body === null ? this.headerFill : FRAME_HEADER_BYTES + this.bodyFill;
  }

  push(chunk: Uint8Array): Buffer[] {
    if (this.failure) throw this.failure;
    if (!(chunk instanceof Uint8Array)) {
      throw new ProtocolError('WrongType', 'FrameDecoder.push expects a Uint8Array chunk');
    }
    const frames: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.body === null) {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - pos);
        this.header.set(chunk.subarray(pos, pos + take), this.headerFill);
        this.headerFill += take;
        pos += take;
        if (this.headerFill < FRAME_HEADER_BYTES) break;
        const length = this.header.readUInt32BE(0);
        this.headerFill = 0;
        if (length > this.maxFrameBytes) {
          this.failure = tooLarge(length, this.maxFrameBytes);
          throw this.failure;
        }
        if (length === 0) {
          frames.push(Buffer.alloc(0));
          continue;
        }
        this.body = Buffer.allocUnsafe(length);
        this.bodyFill = 0;
      }
      const take = Math.min(this.body.length - this.bodyFill, chunk.length - pos);
      this.body.set(chunk.subarray(pos, pos + take), this.bodyFill);
      this.bodyFill += take;
      pos += take;
      if (this.bodyFill === this.body.length) {
        frames.push(this.body);
        this.body = null;
        this.bodyFill = 0;
      }
    }
    return frames;
  }

  /**
   * Call when the stream ends. Throws ProtocolError('Truncated') if the stream stopped inside
   * a frame, since that frame was lost.
   */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.bufferedBytes > 0) {
      throw new ProtocolError(
        'Truncated',
        `stream ended inside a frame (${this.bufferedBytes} byte(s) buffered)`,
      );
    }
  }
}
