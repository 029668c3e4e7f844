/** `wasmbed up`: setup, then the whole platform in the foreground (as `npm start`). */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT as ROOT } from '../../common/repo-root.js';

export function up(): Promise<number> {
  return new Promise((resolve) => {
    const setup = spawn(process.execPath, [path.join(ROOT, 'scripts', 'setup.mjs')], {
      cwd: ROOT,
      stdio: 'inherit',
    });
    setup.on('exit', (code) => {
      if (code !== 0) return resolve(code ?? 1);
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'start.ts')], {
        cwd: ROOT,
        stdio: 'inherit',
      });
      const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
      process.on('SIGINT', forward('SIGINT'));
      process.on('SIGTERM', forward('SIGTERM'));
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 0 : 1)));
    });
  });
}
