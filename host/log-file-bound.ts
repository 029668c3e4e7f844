/**
 * Keeps the device host's own log (logs/host-<id>.log) under a bound. The host lives for weeks
 * and logs every device's sessions and runs; unbounded, that file only grows. Its supervisor
 * hands it the file as stdout and stderr (host/supervisor.ts), so the host cannot rename it and
 * reopen: it has no way to point fds 1 and 2 at a new file. Instead, past `maxBytes` the file is
 * copied to `<file>.1` (replacing the one before) and truncated. The fds were opened to append,
 * so the next line lands at the start of the emptied file.
 *
 * Nothing is lost between the copy and the truncation: every line the host writes goes through
 * this thread, synchronously (common/logger.ts; worker threads' output is forwarded to it), and
 * both happen within one turn of the event loop.
 */
import fs from 'node:fs';

export interface LogFileBound {
  /** Copies and truncates now if the file is past the bound; true when it did. */
  check(): boolean;
  stop(): void;
}

/**
 * Checks every `checkMs` that `fd` still appends to `file` (a host started by a test or by hand
 * may log elsewhere: then nothing is done) and keeps the file under `maxBytes`. Between two checks
 * the file can grow past the bound by what is written meanwhile.
 */
export function boundLogFile(options: {
  file: string;
  maxBytes: number;
  fd?: number;
  checkMs?: number;
  onError: (err: Error) => void;
}): LogFileBound {
  const { file, maxBytes, fd = 2, checkMs = 5000, onError } = options;
  const check = (): boolean => {
    try {
      const written = fs.fstatSync(fd);
      if (written.size <= maxBytes || !sameFile(written, file) || !appends(fd)) return false;
      fs.copyFileSync(file, `${file}.1`);
      fs.ftruncateSync(fd, 0);
      return true;
    } catch (err) {
      // (A full disk, or the logs folder removed: keep logging where we are.)
      onError(err as Error);
      return false;
    }
  };
  const timer = setInterval(check, checkMs);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}

/**
 * Only a file opened to append may be truncated under its writer: any other fd would go on
 * writing at its old offset, after a hole as long as what was cut.
 */
function appends(fd: number): boolean {
  const flags = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
  return flags !== undefined && (parseInt(flags, 8) & fs.constants.O_APPEND) !== 0;
}

function sameFile(written: fs.Stats, file: string): boolean {
  try {
    const named = fs.statSync(file);
    return named.ino === written.ino && named.dev === written.dev;
  } catch {
    return false;
  }
}
