/**
 * Runs the three gateway benchmarks one after another (each starts and stops its own
 * gateway and fleet processes) and prints their table rows together at the end.
 *
 *   npx tsx bench/gateway.ts [--quick]
 *
 * The same as:
 *   npx tsx bench/gateway-idle-sessions.ts   (10,000 idle sessions, 30 s heartbeats)
 *   npx tsx bench/gateway-handshakes.ts      (2000 handshakes, concurrency 64; with resumption)
 *   npx tsx bench/gateway-request-rtt.ts     (1000 sessions, 10,000 StopApplication → StopAck)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './support/ipc.js';
import { parseArgs } from './support/stats.js';

const args = parseArgs();
const benches = ['gateway-idle-sessions', 'gateway-handshakes', 'gateway-request-rtt'];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-bench-gateway-'));
const tables: string[] = [];
let failed = 0;

function run(name: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join('bench', `${name}.ts`),
        ...(args.quick ? ['--quick'] : []),
        `--out=${path.join(dir, `${name}.json`)}`,
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      process.stdout.write(chunk);
    });
    // Bounded: the full idle-sessions run takes a few minutes; nothing should take 30.
    const timer = setTimeout(() => child.kill('SIGTERM'), 30 * 60_000);
    const stop = () => child.kill('SIGTERM');
    process.once('SIGINT', stop);
    child.on('close', (code) => {
      clearTimeout(timer);
      process.off('SIGINT', stop);
      resolve({ code, stdout });
    });
  });
}

try {
  for (const name of benches) {
    process.stderr.write(`\n=== ${name} ===\n`);
    const { code, stdout } = await run(name);
    if (code !== 0) failed++;
    const table = stdout
      .slice(stdout.lastIndexOf('\n| ') >= 0 ? stdout.indexOf('\n| ') : stdout.length)
      .trim();
    tables.push(`### ${name}${code === 0 ? '' : ` (exit ${code})`}\n\n${table}`);
  }
  console.log(`\n## Gateway benchmarks (results in ${dir})\n\n${tables.join('\n\n')}`);
} finally {
  process.exitCode = failed > 0 ? 1 : 0;
}
