/**
 * The events of a server-sent event stream (the dashboard's live views), one at a time as they
 * arrive: for tests and benches that read a stream's raw events rather than drive a browser.
 */
export interface SseEvent {
  /** The `event:` field; `comment` for a keep-alive (`: …`), `retry` for a bare `retry:`. */
  event: string;
  /** The first `data:` line ('' when none). */
  data: string;
  /** The event as sent, with its blank-line terminator. */
  raw: string;
  /** Its size on the wire, in bytes. */
  bytes: number;
}

/** Ends when the stream does; an abort of the request ends it quietly. */
export async function* sseEvents(res: Response): AsyncGenerator<SseEvent> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch {
      return; // aborted by the reader's own AbortController
    }
    if (chunk.done) return;
    buffer += decoder.decode(chunk.value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const raw = buffer.slice(0, end + 2);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(raw)?.[1] ?? (raw.startsWith(':') ? 'comment' : 'retry');
      yield { event, data: /^data: (.*)$/m.exec(raw)?.[1] ?? '', raw, bytes: Buffer.byteLength(raw) };
    }
  }
}
