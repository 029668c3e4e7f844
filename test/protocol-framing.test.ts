/**
 * Length-prefixed framing: the shared frame vectors, chunking in every way a TCP/TLS stream can
 * deliver bytes, the size limit enforced on the header alone, and one pass over a real socket.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_FRAME_BYTES,
  decodeEnvelope,
  encodeFrame,
  encodeMessageFrame,
  envelope,
  FrameDecoder,
  type ProtocolErrorReason,
} from '../protocol/index.js';
import { prng, protocolError } from './support/protocol-helpers.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (h: string): Buffer => Buffer.from(h, 'hex');

interface FrameVector {
  name: string;
  description: string;
  maxFrameBytes: number;
  stream: string;
  frames?: string[];
  error?: ProtocolErrorReason;
}
const frameVectors = (
  JSON.parse(readFileSync(new URL('./vectors/frames.json', import.meta.url), 'utf8')) as {
    vectors: FrameVector[];
  }
).vectors;
const messageVectors = (
  JSON.parse(readFileSync(new URL('./vectors/messages.json', import.meta.url), 'utf8')) as {
    vectors: { hex: string }[];
  }
).vectors;

describe('frame vectors (test/vectors/frames.json)', () => {
  it.each(frameVectors.map((v) => [v.name, v] as const))('%s', (_, v) => {
    // whole stream at once, then byte by byte: the outcome must not depend on chunking
    for (const chunking of ['whole', 'bytes'] as const) {
      const decoder = new FrameDecoder(v.maxFrameBytes);
      const stream = unhex(v.stream);
      const chunks = chunking === 'whole' ? [stream] : [...stream].map((b) => Buffer.from([b]));
      const got: string[] = [];
      const run = (): void => {
        for (const chunk of chunks) got.push(...decoder.push(chunk).map(hex));
        decoder.end();
      };
      if (v.error) {
        expect(protocolError(run).reason).toBe(v.error);
      } else {
        run();
        expect(got).toEqual(v.frames);
      }
    }
  });
});

describe('encodeFrame', () => {
  it('writes a 4-byte big-endian length, then the payload', () => {
    expect(hex(encodeFrame(unhex('a1b2c3')))).toBe('00000003a1b2c3');
    expect(hex(encodeFrame(new Uint8Array(300)).subarray(0, 4))).toBe('0000012c');
    expect(hex(encodeFrame(new Uint8Array()))).toBe('00000000');
  });

  it('refuses a payload above the maximum (the receiver would close the connection)', () => {
    expect(encodeFrame(new Uint8Array(DEFAULT_MAX_FRAME_BYTES)).length).toBe(DEFAULT_MAX_FRAME_BYTES + 4);
    expect(protocolError(() => encodeFrame(new Uint8Array(DEFAULT_MAX_FRAME_BYTES + 1))).reason).toBe(
      'FrameTooLarge',
    );
    expect(protocolError(() => encodeFrame(new Uint8Array(11), 10)).reason).toBe('FrameTooLarge');
    expect(encodeFrame(new Uint8Array(11), 11).length).toBe(15);
  });

  it('encodeMessageFrame frames an encoded envelope', () => {
    const frame = encodeMessageFrame(envelope(1, { type: 'Heartbeat', uptimeMs: 1000 }));
    expect(hex(frame)).toBe('00000008' + '83010182011903e8');
    const big = envelope(2, {
      type: 'Publish',
      appId: 'a',
      topic: 't',
      data: new Uint8Array(DEFAULT_MAX_FRAME_BYTES),
    });
    expect(protocolError(() => encodeMessageFrame(big)).reason).toBe('FrameTooLarge');
    expect(encodeMessageFrame(big, 2 * DEFAULT_MAX_FRAME_BYTES).length).toBeGreaterThan(
      DEFAULT_MAX_FRAME_BYTES,
    );
  });
});

describe('FrameDecoder', () => {
  const payloads = messageVectors.map((v) => unhex(v.hex));
  const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));

  it('reassembles frames delivered one byte at a time', () => {
    const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
    const got: Buffer[] = [];
    for (const byte of stream) {
      got.push(...decoder.push(Buffer.from([byte])));
    }
    expect(got.map(hex)).toEqual(payloads.map(hex));
    expect(decoder.bufferedBytes).toBe(0);
    expect(() => decoder.end()).not.toThrow();
  });

  it('returns several frames from one chunk, and keeps a trailing partial frame for later', () => {
    const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
    const three = Buffer.concat([
      encodeFrame(unhex('01')),
      encodeFrame(unhex('0203')),
      encodeFrame(unhex('040506')),
    ]);
    const cut = three.length - 2;
    expect(decoder.push(three.subarray(0, cut)).map(hex)).toEqual(['01', '0203']);
    expect(decoder.bufferedBytes).toBe(5);
    expect(decoder.push(three.subarray(cut)).map(hex)).toEqual(['040506']);
  });

  it('reassembles any random chunking of a stream (500 runs)', () => {
    const rand = prng(7);
    for (let run = 0; run < 500; run++) {
      const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
      const got: string[] = [];
      let pos = 0;
      while (pos < stream.length) {
        const size = rand() < 0.2 ? 0 : 1 + Math.floor(rand() * 64);
        got.push(...decoder.push(stream.subarray(pos, pos + size)).map(hex));
        pos += size;
      }
      expect(got).toEqual(payloads.map(hex));
    }
  });

  it('passes zero-length frames through as empty buffers', () => {
    const decoder = new FrameDecoder(16);
    expect(decoder.push(unhex('00000000' + '00000000' + '0000000101')).map(hex)).toEqual(['', '', '01']);
    // an empty payload is valid framing but not a valid envelope
    expect(protocolError(() => decodeEnvelope(new Uint8Array())).reason).toBe('Truncated');
  });

  it('accepts a frame of exactly the maximum', () => {
    const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
    const payload = Buffer.alloc(DEFAULT_MAX_FRAME_BYTES, 0xab);
    const frames = decoder.push(encodeFrame(payload));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.equals(payload)).toBe(true);
  });

  it('rejects an oversize length as soon as the header is complete, before any body byte arrives', () => {
    const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(DEFAULT_MAX_FRAME_BYTES + 1);
    expect(decoder.push(header.subarray(0, 3))).toEqual([]);
    const err = protocolError(() => decoder.push(header.subarray(3)));
    expect(err.reason).toBe('FrameTooLarge');
    expect(err.message).toContain(String(DEFAULT_MAX_FRAME_BYTES + 1));
    // the stream cannot be resynchronised: the decoder stays failed
    expect(protocolError(() => decoder.push(Buffer.alloc(10))).reason).toBe('FrameTooLarge');
    expect(protocolError(() => decoder.end()).reason).toBe('FrameTooLarge');
  });

  it('rejects a 4 GiB length header without allocating it', () => {
    const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
    expect(protocolError(() => decoder.push(unhex('ffffffff'))).reason).toBe('FrameTooLarge');
  });

  it('rejects an oversize frame that follows good frames in the same chunk', () => {
    const decoder = new FrameDecoder(4);
    expect(protocolError(() => decoder.push(unhex('0000000101' + '00000005'))).reason).toBe('FrameTooLarge');
  });

  it('reports a stream that ends inside a frame', () => {
    const decoder = new FrameDecoder(16);
    decoder.push(unhex('000000'));
    expect(decoder.bufferedBytes).toBe(3);
    expect(protocolError(() => decoder.end()).reason).toBe('Truncated');
    const decoder2 = new FrameDecoder(16);
    decoder2.push(unhex('00000003aa'));
    expect(decoder2.bufferedBytes).toBe(5);
    expect(protocolError(() => decoder2.end()).reason).toBe('Truncated');
  });

  it('returns frames that do not alias the caller’s chunk', () => {
    const decoder = new FrameDecoder(16);
    const chunk = unhex('00000002aabb');
    const [frame] = decoder.push(chunk);
    chunk.fill(0);
    expect(hex(frame!)).toBe('aabb');
  });

  it('validates its configuration and input', () => {
    expect(() => new FrameDecoder(-1)).toThrow(RangeError);
    expect(() => new FrameDecoder(1.5)).toThrow(RangeError);
    expect(() => new FrameDecoder(2 ** 32)).toThrow(RangeError);
    expect(new FrameDecoder().maxFrameBytes).toBe(DEFAULT_MAX_FRAME_BYTES);
    expect(protocolError(() => new FrameDecoder().push('abc' as unknown as Uint8Array)).reason).toBe(
      'WrongType',
    );
  });
});

describe('framing over a real TCP socket', () => {
  it('delivers every vector intact when written in small pieces', async () => {
    const payloads = messageVectors.map((v) => unhex(v.hex));
    const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const received = new Promise<string[]>((resolve, reject) => {
        server.once('connection', (socket) => {
          const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
          const got: string[] = [];
          socket.on('data', (chunk: Buffer) => {
            try {
              for (const frame of decoder.push(chunk))
                got.push(hex(encodeMessageFrame(decodeEnvelope(frame)).subarray(4)));
            } catch (err) {
              reject(err as Error);
            }
          });
          socket.on('end', () => {
            try {
              decoder.end();
              resolve(got);
            } catch (err) {
              reject(err as Error);
            }
          });
        });
      });
      const client = net.connect(port, '127.0.0.1');
      client.setNoDelay(true);
      await new Promise<void>((resolve) => client.once('connect', resolve));
      for (let pos = 0; pos < stream.length; pos += 7) client.write(stream.subarray(pos, pos + 7));
      client.end();
      expect(await received).toEqual(payloads.map(hex));
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
