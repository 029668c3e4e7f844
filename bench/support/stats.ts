/** Small helpers shared by the gateway benchmarks: percentiles, arguments, machine description. */
import fs from 'node:fs';
import os from 'node:os';

export interface Summary {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

export function summarize(values: number[]): Summary {
  if (values.length === 0) return { n: 0, min: NaN, mean: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return {
    n: sorted.length,
    min: round(sorted[0]!),
    mean: round(mean),
    p50: round(at(0.5)),
    p90: round(at(0.9)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1]!),
  };
}

/** `--quick`, `--n=123`, `--out=file.json` style arguments. */
export function parseArgs(argv = process.argv.slice(2)) {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unexpected argument ${arg}`);
    if (match[2] === undefined) flags.add(match[1]!);
    else values.set(match[1]!, match[2]);
  }
  return {
    quick: flags.has('quick'),
    flag: (name: string) => flags.has(name),
    int(name: string, fallback: number): number {
      const raw = values.get(name);
      if (raw === undefined) return fallback;
      const value = Number(raw);
      if (!Number.isInteger(value) || value < 0)
        throw new Error(`--${name}=${raw} is not a non-negative integer`);
      return value;
    },
    string: (name: string) => values.get(name),
  };
}

export function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    openFilesLimit: openFilesLimit(),
    ephemeralPorts: readText('/proc/sys/net/ipv4/ip_local_port_range')?.replace(/\s+/g, '-'),
    date: new Date().toISOString(),
    // The machine may be shared: other work running during a benchmark shows up here.
    loadAverage: os.loadavg().map((x) => round(x, 2)),
  };
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Soft/hard RLIMIT_NOFILE as this (Node) process sees it; Node raises soft to hard at start. */
export function openFilesLimit(): string | undefined {
  const line = readText('/proc/self/limits')
    ?.split('\n')
    .find((l) => l.startsWith('Max open files'));
  const parts = line?.split(/\s{2,}/);
  return parts ? `${parts[1]}/${parts[2]}` : undefined;
}

export const mib = (bytes: number) => round(bytes / 2 ** 20, 1);
export const kib = (bytes: number) => round(bytes / 2 ** 10, 1);
export { round };

export function writeOut(path: string | undefined, result: unknown): void {
  if (path) fs.writeFileSync(path, JSON.stringify(result, null, 2) + '\n');
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `probe` is truthy; throws after `timeoutMs`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | false | undefined>,
  timeoutMs: number,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
