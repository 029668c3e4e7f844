/**
 * An append-only log file that never grows past a bound: when the next write would take it over
 * `maxBytes`, the file becomes `<file>.1` (replacing the one before) and a new file starts. A
 * device's UART log lives for as long as the device, and a chatty app writes one line per call:
 * unbounded, a thousand devices on one host fill its disk within days. At most twice `maxBytes`
 * per device is kept, the newest lines always.
 *
 * Nothing written is lost in a rotation: the old stream is renamed with its file, so lines still
 * queued on it land in `<file>.1`, before the first line of the new file.
 */
import fs from 'node:fs';

export class RotatingLogFile {
  private stream: fs.WriteStream;
  private bytes: number;
  private closed: Promise<void> | undefined;

  constructor(
    readonly file: string,
    private readonly maxBytes: number,
    private readonly onError: (err: Error) => void,
  ) {
    this.bytes = sizeOf(file);
    this.stream = this.open();
  }

  /** After end(), nothing: the device is gone (and a rotation then would open a file for no one). */
  write(text: string): void {
    if (this.closed) return;
    const bytes = Buffer.byteLength(text);
    if (this.bytes > 0 && this.bytes + bytes > this.maxBytes) this.rotate();
    this.stream.write(text);
    this.bytes += bytes;
  }

  /** Resolves once every write has reached the file (or failed). Idempotent. */
  end(): Promise<void> {
    return (this.closed ??= new Promise((resolve) => this.stream.end(() => resolve())));
  }

  private open(): fs.WriteStream {
    // Opened now, not in the background as a stream opens its path: a rotation then renames the
    // very file this stream writes.
    const stream = fs.createWriteStream(this.file, { fd: fs.openSync(this.file, 'a', 0o600) });
    stream.on('error', this.onError);
    return stream;
  }

  private rotate(): void {
    try {
      fs.renameSync(this.file, `${this.file}.1`);
    } catch (err) {
      // (The volume is going away, or a full disk: keep writing where we were.)
      this.onError(err as Error);
      return;
    }
    this.stream.end(); // (its queue drains into the renamed file)
    this.stream = this.open();
    this.bytes = 0;
  }
}

function sizeOf(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
