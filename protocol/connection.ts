/**
 * A protocol v1 peer over any duplex byte stream (a TLS socket on both ends): frames in,
 * envelopes out, and requests correlated with their replies by messageId, each with a
 * timeout. Used by the gateway and by the virtual device.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { WasmbedError } from '../common/errors.js';
import { ProtocolError } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encodeMessageFrame } from './framing.js';
import {
  EXPECTED_REPLY,
  MESSAGE_ID_RANGES,
  type MessageIdSpace,
  PROTOCOL_VERSION,
  decodeEnvelope,
  type Envelope,
  type Message,
  type MessageType,
} from './messages.js';

export type RequestFailure = 'Timeout' | 'SessionClosed' | 'Cancelled' | 'UnexpectedReply';

/** A request that got no usable reply. `reason` says why; the message names the device and message. */
export class RequestError extends WasmbedError {
  constructor(
    readonly reason: RequestFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`Request${reason}`, message, options);
  }
}

export interface ConnectionLimits {
  maxFrameBytes: number;
  /** Outgoing bytes queued for a peer that does not read before it is dropped as a slow reader. */
  maxBufferedBytes: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxBufferedBytes: 4 * 1024 * 1024,
};

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Pending {
  expected: readonly MessageType[];
  requestType: MessageType;
  resolve(message: Message): void;
  reject(err: Error): void;
  cleanup(): void;
}

type Events = {
  /** Any decoded frame, replies included (liveness). */
  frame: [Envelope];
  message: [Envelope];
  protocolError: [ProtocolError];
  ignored: [ProtocolError];
  slowReader: [number];
  requestCompleted: [MessageType, number, 'ok' | RequestFailure];
};

export class ProtocolConnection extends EventEmitter<Events> {
  private readonly decoder: FrameDecoder;
  private readonly limits: ConnectionLimits;
  private readonly pending = new Map<number, Pending>();
  private nextMessageId: number;
  framesIn = 0;
  framesOut = 0;

  constructor(
    readonly stream: Duplex,
    limits: Partial<ConnectionLimits> = {},
    /** Names the peer in error messages, e.g. the device name. */
    readonly peer = 'peer',
    /** Which end of the link this is: it decides the range our messageIds come from. */
    readonly idSpace: MessageIdSpace = 'device',
  ) {
    super();
    // The first allocation wraps to the start of our range.
    this.nextMessageId = MESSAGE_ID_RANGES[idSpace].last;
    this.limits = { ...DEFAULT_CONNECTION_LIMITS, ...limits };
    this.decoder = new FrameDecoder(this.limits.maxFrameBytes);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.once('close', () => this.failPending('SessionClosed', `session of ${this.peer} closed`));
  }

  get pendingRequests(): number {
    return this.pending.size;
  }

  private onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    for (const frame of frames) {
      if (this.stream.destroyed) return;
      this.framesIn++;
      let envelope: Envelope;
      try {
        envelope = decodeEnvelope(frame);
      } catch (err) {
        // A newer peer's new message: ignore it and keep the session (docs/protocol.md, versioning).
        if (err instanceof ProtocolError && err.reason === 'UnknownTag') {
          this.emit('ignored', err);
          continue;
        }
        this.fail(err);
        return;
      }
      this.emit('frame', envelope);
      if (!this.settleReply(envelope)) this.emit('message', envelope);
    }
  }

  private settleReply(envelope: Envelope): boolean {
    const pending = this.pending.get(envelope.messageId);
    if (!pending || !pending.expected.includes(envelope.body.type)) return false;
    pending.resolve(envelope.body);
    return true;
  }

  private fail(err: unknown): void {
    const error =
      err instanceof ProtocolError ? err : new ProtocolError('Internal', 'undecodable frame', { cause: err });
    this.emit('protocolError', error);
    this.stream.destroy();
  }

  /** Sends a message; pass `replyTo` to answer a request with its messageId. Returns the id used. */
  send(body: Message, replyTo?: number): number {
    const messageId = replyTo ?? this.allocateId();
    if (this.stream.destroyed || !this.stream.writable) return messageId;
    this.stream.write(
      encodeMessageFrame({ version: PROTOCOL_VERSION, messageId, body }, this.limits.maxFrameBytes),
    );
    this.framesOut++;
    // A peer that stops reading must not make us buffer without bound.
    if (this.stream.writableLength > this.limits.maxBufferedBytes) {
      this.emit('slowReader', this.stream.writableLength);
      this.stream.destroy();
    }
    return messageId;
  }

  /** Sends a request and resolves with its reply (same messageId, one of the expected types). */
  request(body: Message, options: RequestOptions = {}): Promise<Message> {
    const spec = EXPECTED_REPLY[body.type];
    if (!spec) return Promise.reject(new RequestError('UnexpectedReply', `${body.type} expects no reply`));
    const timeoutMs = options.timeoutMs ?? spec.timeoutMs;
    const started = performance.now();
    return new Promise<Message>((resolve, reject) => {
      if (this.stream.destroyed) {
        reject(new RequestError('SessionClosed', `session of ${this.peer} is closed; ${body.type} not sent`));
        return;
      }
      const messageId = this.allocateId();
      const finish = (outcome: 'ok' | RequestFailure) =>
        this.emit('requestCompleted', body.type, performance.now() - started, outcome);
      const timer = setTimeout(() => {
        entry.cleanup();
        finish('Timeout');
        reject(
          new RequestError(
            'Timeout',
            `no ${spec.replies.join('/')} from ${this.peer} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const onAbort = () => {
        entry.cleanup();
        finish('Cancelled');
        reject(
          new RequestError('Cancelled', `${body.type} to ${this.peer} cancelled`, {
            cause: options.signal?.reason,
          }),
        );
      };
      const entry: Pending = {
        expected: spec.replies,
        requestType: body.type,
        resolve: (message) => {
          entry.cleanup();
          finish('ok');
          resolve(message);
        },
        reject: (err) => {
          entry.cleanup();
          finish(err instanceof RequestError ? err.reason : 'SessionClosed');
          reject(err);
        },
        cleanup: () => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          this.pending.delete(messageId);
        },
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(messageId, entry);
      this.send(body, messageId);
    });
  }

  private failPending(reason: RequestFailure, message: string): void {
    for (const entry of [...this.pending.values()]) {
      entry.reject(
        new RequestError(
          reason,
          `${message} while waiting for ${entry.expected.join('/')} to ${entry.requestType}`,
        ),
      );
    }
  }

  private allocateId(): number {
    const { first, last } = MESSAGE_ID_RANGES[this.idSpace];
    // Skip ids still awaiting a reply after a wrap-around.
    do {
      this.nextMessageId = this.nextMessageId >= last ? first : this.nextMessageId + 1;
    } while (this.pending.has(this.nextMessageId));
    return this.nextMessageId;
  }
}
