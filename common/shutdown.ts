import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';

/**
 * Runs cleanup once on SIGINT/SIGTERM, then exits. Its last log line says whether the cleanup
 * got to its end ("stopped") or where it failed, so a process that skipped part of its
 * shutdown (an unflushed write, an unclosed store) shows in its log.
 */
export function onShutdown(cleanup: () => Promise<void>, logger: Logger): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    cleanup()
      .then(() => logger.info('stopped', { signal }))
      .catch((err: unknown) => logger.error('shutdown failed', { signal, error: errorMessage(err) }))
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}
