/**
 * The Temporal SDK's Runtime for a worker process: its metrics (task latencies, slots, poll
 * results, sticky cache…) on a Prometheus endpoint served by the SDK's core, and its logs —
 * the worker's own and the core's, forwarded — written as JSON lines by the process's pino logger.
 */
import { Runtime, type LogLevel, type LogMetadata, type Logger as TemporalLogger } from '@temporalio/worker';
import type { Logger as PinoLogger } from 'pino';
import { serializable } from '../common/logger.js';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * What the SDK's worker warns at every start of a worker created without workflows
 * (@temporalio/worker lib/worker.js, `workflow$`). The SDK has no option to declare a worker
 * activities-only (temporalio/sdk-typescript#471 asked for this line so that a worker that lost
 * its bundle by mistake is noticed), so a process whose worker has no workflows by design
 * (the gateway) logs it at debug: it says nothing an operator should act on there.
 */
export const NO_WORKFLOWS_WARNING = 'No workflows registered, not polling for workflow tasks';

export interface TemporalLoggerOptions {
  /** This process's worker runs activities only, by design: NO_WORKFLOWS_WARNING is expected. */
  activitiesOnly?: boolean;
}

/** The SDK's Logger interface over pino; `sdkComponent` (worker, core, activity…) stays a field. */
export function temporalLogger(pino: PinoLogger, options: TemporalLoggerOptions = {}): TemporalLogger {
  const child = pino.child({ component: 'temporal' });
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const expected = options.activitiesOnly && level === 'WARN' && message === NO_WORKFLOWS_WARNING;
    const method = expected ? 'debug' : LEVELS[level];
    if (!child.isLevelEnabled(method)) return;
    // Symbol keys (the SDK's internal markers) are not JSON; an Error becomes its message.
    const fields = serializable(meta ? Object.fromEntries(Object.entries(meta)) : undefined);
    if (fields) child[method](fields, message);
    else child[method](message);
  };
  return {
    log,
    trace: (m, meta) => log('TRACE', m, meta),
    debug: (m, meta) => log('DEBUG', m, meta),
    info: (m, meta) => log('INFO', m, meta),
    warn: (m, meta) => log('WARN', m, meta),
    error: (m, meta) => log('ERROR', m, meta),
  };
}

const CORE_FILTER: Record<string, 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR'> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'WARN',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'ERROR',
  silent: 'ERROR',
};

/**
 * The SDK's core warns TMPRL1104 ("Workflow task duration exceeded 5 seconds") after a workflow
 * task of 5 s. Wasmbed's provisioning runs hold their first workflow task while their local
 * activities run (the store's, the host's four steps, placement, the endpoint write:
 * workflows/provision-device.ts) — under a burst of provisioning they queue behind each other's,
 * and that task lasts 5–6 s on a loaded machine with nothing wrong (a 300-device batch: 150 such
 * warnings). The core heartbeats a task that waits on local activities at 80% of its timeout,
 * 8 s of the default 10 s (sdk-core WFT_HEARTBEAT_TIMEOUT_FRACTION), so up to 8 s is the task
 * doing what it was designed to; past 9 s its heartbeat came late and the server is about to
 * time it out (and run it again): that is what still warns. The core reads this once, from the
 * process's environment, the first time it compares; an operator's own setting wins (an empty
 * one is no setting: the core would read it as its 5 s).
 */
export const WORKFLOW_TASK_WARN_SECONDS = 9;

export function installTemporalRuntime(
  options: { metricsBindAddress: string; logger: PinoLogger } & TemporalLoggerOptions,
): void {
  // The core is chatty at INFO; its warnings and errors are what an operator needs by default.
  const core = CORE_FILTER[options.logger.level] ?? 'WARN';
  process.env.TEMPORAL_WORKFLOW_TASK_DURATION_WARN_SECONDS ||= String(WORKFLOW_TASK_WARN_SECONDS);
  Runtime.install({
    logger: temporalLogger(options.logger, { activitiesOnly: options.activitiesOnly }),
    telemetryOptions: {
      logging: { filter: { core, other: core }, forward: {} },
      metrics: { prometheus: { bindAddress: options.metricsBindAddress } },
    },
  });
}
