/**
 * A child process's stdout and stderr, line by line, into one bounded log file
 * (RotatingLogFile): a line is never split between the file and its `.1`. For a child that logs
 * for as long as the platform runs — the Temporal dev server under `npm start`, whose output
 * went to a file handed to it as its stdout, appended to across restarts without a bound.
 */
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import type { RotatingLogFile } from './rotating-log-file.js';

/** Resolves once both streams have ended and every line has reached the file. */
export async function logChildOutput(child: ChildProcess, log: RotatingLogFile): Promise<void> {
  const streams = [child.stdout, child.stderr].filter((stream) => stream !== null);
  await Promise.all(
    streams.map(
      (input) =>
        new Promise<void>((resolve) => {
          const lines = readline.createInterface({ input, crlfDelay: Infinity });
          lines.on('line', (line) => log.write(`${line}\n`));
          lines.once('close', resolve);
        }),
    ),
  );
  await log.end();
}
