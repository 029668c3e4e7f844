// Bundles the workflow code once for every worker the suites start (see temporal/workflow-bundle.ts).
import { ensureWorkflowBundle } from '../../temporal/workflow-bundle.js';

export default async function setup(): Promise<void> {
  await ensureWorkflowBundle();
}
