/**
 * Workflow code is bundled once and cached by content hash, so workers (and every test
 * that starts one) reuse it instead of paying webpack's start-up each time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { pruneOldBuilds } from '../common/build-cache.js';
import { REPO_ROOT } from '../common/repo-root.js';
import { sourceHash } from '../common/source-hash.js';

const WORKFLOW_SOURCE_DIRS = ['workflows', 'common', 'temporal'];
export const WORKFLOWS_ENTRY = path.join(REPO_ROOT, 'workflows', 'index.ts');

// Recursive: workflows/contracts/ is bundled too, and a stale bundle would run old code.
const sourceKey = () => sourceHash(WORKFLOW_SOURCE_DIRS, { recursive: true, matches: /\.ts$/ });

/** OpenTelemetry's workflow interceptors: bundled in only for workers that trace. */
export const TRACING_INTERCEPTORS = path.join(REPO_ROOT, 'temporal', 'workflow-tracing.ts');

/**
 * `traced`: the bundle with OpenTelemetry's workflow interceptors (platform/tracing.ts). It is a
 * separate bundle so that a platform without tracing runs workflows with no tracing code at all.
 */
export async function ensureWorkflowBundle(
  options: { traced?: boolean } = {},
): Promise<{ codePath: string }> {
  const variant = options.traced ? 'traced-' : '';
  const codePath = path.join(REPO_ROOT, 'dist', `workflow-bundle-${variant}${sourceKey()}.js`);
  if (fs.existsSync(codePath)) return { codePath };
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_ENTRY,
    workflowInterceptorModules: options.traced ? [TRACING_INTERCEPTORS] : [],
    // Our ESM sources import './x.js' for files that are './x.ts' on disk.
    webpackConfigHook: (config) => {
      config.resolve = {
        ...config.resolve,
        extensionAlias: { '.js': ['.ts', '.js'] },
      };
      return config;
    },
    logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} },
  });
  fs.mkdirSync(path.dirname(codePath), { recursive: true });
  const tmp = `${codePath}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, code);
  fs.renameSync(tmp, codePath);
  pruneOldBuilds(path.dirname(codePath), 'workflow-bundle-', codePath);
  return { codePath };
}
