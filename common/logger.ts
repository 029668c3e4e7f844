/**
 * JSON logs, one object per line on stderr (pino): `{"level":"info","time":"…","component":"gateway",
 * "msg":"…", …fields}`. Inside a Temporal activity every line also carries the run's workflowId,
 * runId and activity, so an aggregator can join a device's logs with its workflow. `LOG_LEVEL`
 * (trace, debug, info, warn, error, silent; default info; WASMBED_DEBUG=1 still means debug) sets
 * what is written. `npm start` turns the lines back into readable text on a terminal
 * (common/log-format.ts).
 */
import { Context } from '@temporalio/activity';
import { ValidationError } from './errors.js';
import { destination as pinoDestination, pino, stdTimeFunctions, type Logger as PinoLogger } from 'pino';

export type LogFields = Record<string, unknown>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** The level from the environment; an unknown value is an error naming the variable. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const level = env.LOG_LEVEL || (env.WASMBED_DEBUG === '1' ? 'debug' : 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ValidationError('LOG_LEVEL', `LOG_LEVEL="${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  return level;
}

/** The workflow an activity log line belongs to; nothing outside an activity. */
function activityFields(): LogFields {
  try {
    const info = Context.current().info;
    return {
      workflowId: info.workflowExecution?.workflowId,
      runId: info.workflowExecution?.runId,
      activity: info.activityType,
    };
  } catch {
    return {};
  }
}

let root: PinoLogger | undefined;
let destination: { write(line: string): void } | undefined;

/**
 * Sends this process's log lines to `stream` instead of stderr (the `npm start` supervisor
 * formats its own lines for the terminal). Call before the first log line.
 */
export function setLogDestination(stream: { write(line: string): void }): void {
  if (root) throw new Error('setLogDestination must run before the first logger is created');
  destination = stream;
}

/** One pino instance per process; synchronous writes so nothing is lost on process.exit. */
export function rootLogger(): PinoLogger {
  root ??= pino(
    {
      level: logLevelFromEnv(),
      base: undefined,
      messageKey: 'msg',
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: activityFields,
    },
    destination ?? pinoDestination({ fd: 2, sync: true }),
  );
  return root;
}

/** Fields that are not plain JSON (an Error) become something a reader can use. */
export function serializable(fields: LogFields | undefined): LogFields | undefined {
  if (!fields) return undefined;
  let copy: LogFields | undefined;
  for (const [key, value] of Object.entries(fields)) {
    if (value instanceof Error) {
      copy ??= { ...fields };
      copy[key] = value.message;
    }
  }
  return copy ?? fields;
}

export function createLogger(component: string): Logger {
  const child = rootLogger().child({ component });
  const write = (level: 'info' | 'warn' | 'error' | 'debug') => (message: string, fields?: LogFields) => {
    if (!child.isLevelEnabled(level)) return;
    const extra = serializable(fields);
    if (extra) child[level](extra, message);
    else child[level](message);
  };
  return { info: write('info'), warn: write('warn'), error: write('error'), debug: write('debug') };
}
