/** Small helpers for talking to the engine through dockerode. */
import type { Readable } from 'node:stream';

/** The HTTP status of an engine error (404 no such object, 409 conflict, 304 not modified). */
export function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err
    ? (err as { statusCode: number }).statusCode
    : undefined;
}

/**
 * No engine listens where the client dials: its Unix socket does not exist (no Docker on this
 * machine, or DOCKER_HOST names a socket that is not there). Retrying cannot help until an
 * operator starts one.
 */
export function isNoEngine(err: unknown): boolean {
  const e = err as { code?: unknown; syscall?: unknown } | null;
  return typeof e === 'object' && e !== null && e.code === 'ENOENT' && e.syscall === 'connect';
}

/** A whole engine stream (or an already-read buffer). */
export async function readAll(stream: Readable | Buffer | NodeJS.ReadableStream): Promise<Buffer> {
  if (Buffer.isBuffer(stream)) return stream;
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** The text of a non-TTY container log: frames of [stream, 0, 0, 0, size u32 BE] + payload. */
export function demuxLogs(data: Buffer): string {
  let text = '';
  let offset = 0;
  while (offset + 8 <= data.length) {
    const size = data.readUInt32BE(offset + 4);
    text += data.subarray(offset + 8, offset + 8 + size).toString('utf8');
    offset += 8 + size;
  }
  return text;
}
