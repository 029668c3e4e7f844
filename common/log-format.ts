/**
 * Turns a JSON log line (common/logger.ts) back into one readable line for a terminal:
 * `12:00:01.234 INFO  [gateway] message {other fields}`. Anything that is not a JSON object
 * is returned as it is, so a stray line is never hidden.
 */
const KNOWN = new Set(['level', 'time', 'msg', 'component']);

export function formatLogLine(line: string, color = false): string {
  if (!line.startsWith('{')) return line;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = String(entry.level ?? 'info').toUpperCase();
  const rest = Object.fromEntries(Object.entries(entry).filter(([key]) => !KNOWN.has(key)));
  const extra = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest) : '';
  const paint = color ? (LEVEL_COLORS[level] ?? '') : '';
  const reset = paint ? '\x1b[0m' : '';
  return `${time} ${paint}${level.padEnd(5)}${reset} [${String(entry.component ?? '?')}] ${String(entry.msg ?? '')}${extra}`;
}

const LEVEL_COLORS: Record<string, string> = {
  ERROR: '\x1b[31m',
  FATAL: '\x1b[31m',
  WARN: '\x1b[33m',
  DEBUG: '\x1b[90m',
  TRACE: '\x1b[90m',
};
