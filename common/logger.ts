/** One-line structured logs on stderr: `time level component message {fields}`. */
export type LogFields = Record<string, unknown>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
}

const debugEnabled = process.env.WASMBED_DEBUG === '1';

export function createLogger(component: string): Logger {
  const write = (level: string, message: string, fields?: LogFields) => {
    const extra = fields && Object.keys(fields).length > 0 ? ' ' + JSON.stringify(fields) : '';
    process.stderr.write(`${new Date().toISOString()} ${level} [${component}] ${message}${extra}\n`);
  };
  return {
    info: (m, f) => write('INFO', m, f),
    warn: (m, f) => write('WARN', m, f),
    error: (m, f) => write('ERROR', m, f),
    debug: (m, f) => {
      if (debugEnabled) write('DEBUG', m, f);
    },
  };
}
