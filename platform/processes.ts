/**
 * How the platform's processes are launched, by `npm start` and by the tests alike:
 * each is `node --import tsx <entry>` with the shared configuration in its environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../common/repo-root.js';

export const PROCESS_ENTRIES = {
  orchestrator: path.join(REPO_ROOT, 'workers', 'orchestrator.ts'),
  gateway: path.join(REPO_ROOT, 'gateway', 'main.ts'),
  web: path.join(REPO_ROOT, 'web', 'main.ts'),
} as const;

export type PlatformProcessKind = keyof typeof PROCESS_ENTRIES;

/**
 * Kubernetes mode only (WASMBED_STORE=kubernetes): the controller that turns Device CRs into
 * workflows. Not in PROCESS_ENTRIES, so `npm start` (local mode) never launches it.
 */
export const CONTROLLER_ENTRY = path.join(REPO_ROOT, 'controller', 'main.ts');

export function spawnPlatformProcess(
  kind: PlatformProcessKind,
  env: NodeJS.ProcessEnv,
  stdio: 'inherit' | 'pipe' = 'pipe',
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', PROCESS_ENTRIES[kind]], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', stdio, stdio],
  });
}
