/**
 * A protocol v1 peer over any duplex byte stream (a TLS socket on both ends): frames
 * in, envelopes out, and messageIds for replies. Used by the gateway and the virtual device.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { ProtocolError } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encodeMessageFrame } from './framing.js';
import { PROTOCOL_VERSION, decodeEnvelope, type Envelope, type Message } from './messages.js';

type Events = {
  message: [Envelope];
  protocolError: [ProtocolError];
};

export class ProtocolConnection extends EventEmitter<Events> {
  private readonly decoder: FrameDecoder;
  private nextMessageId = 1;

  constructor(
    readonly stream: Duplex,
    maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
  ) {
    super();
    this.decoder = new FrameDecoder(maxFrameBytes);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
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
      let envelope: Envelope;
      try {
        envelope = decodeEnvelope(frame);
      } catch (err) {
        this.fail(err);
        return;
      }
      this.emit('message', envelope);
    }
  }

  private fail(err: unknown): void {
    const error =
      err instanceof ProtocolError ? err : new ProtocolError('WrongType', 'undecodable frame', { cause: err });
    this.emit('protocolError', error);
    this.stream.destroy();
  }

  /** Sends a message; pass `replyTo` to answer a request with its messageId. Returns the id used. */
  send(body: Message, replyTo?: number): number {
    const messageId = replyTo ?? this.allocateId();
    if (!this.stream.destroyed && this.stream.writable) {
      this.stream.write(encodeMessageFrame({ version: PROTOCOL_VERSION, messageId, body }));
    }
    return messageId;
  }

  private allocateId(): number {
    const id = this.nextMessageId;
    this.nextMessageId = id >= 0xffff_ffff ? 1 : id + 1;
    return id;
  }
}
