/** Finds processes by their command line, so a restarted worker can adopt what it started. */
import fs from 'node:fs';

export function processCommandLine(pid: number): string[] | undefined {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/** Live (not zombie) processes whose argv contains every one of `markers`. */
export function findProcesses(markers: string[]): number[] {
  return findProcessesMatching((argv) => hasMarkers(argv, markers));
}

const hasMarkers = (argv: string[], markers: string[]) => markers.every((m) => argv.includes(m));

export function findProcessesMatching(matches: (argv: string[]) => boolean): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const argv = processCommandLine(pid);
    if (argv && matches(argv) && running(processState(pid))) found.push(pid);
  }
  return found;
}

/**
 * True when `pid` is a live (not zombie) process whose argv contains every one of `markers`: a
 * process found before is checked again without reading every command line in /proc (a pid
 * reused by another program does not pass).
 */
export function isProcessWith(pid: number, markers: string[]): boolean {
  const argv = processCommandLine(pid);
  return argv !== undefined && hasMarkers(argv, markers) && running(processState(pid));
}

/** The state letter in /proc/<pid>/stat (R, S, Z…); undefined once the process is gone. */
function processState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

const running = (state: string | undefined) => state !== undefined && state !== 'Z' && state !== 'X';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function terminate(pid: number, graceMs = 3000): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (findProcessGone(pid)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  while (!findProcessGone(pid)) await new Promise((r) => setTimeout(r, 20));
}

function findProcessGone(pid: number): boolean {
  return !isAlive(pid) || !running(processState(pid));
}
