// Bundles the workflow code and the virtual device once for every process the suites start.
import { ensureDeviceBundle } from '../../runtimes/device-bundle.js';
import { ensureWorkflowBundle } from '../../temporal/workflow-bundle.js';

export default async function setup(): Promise<void> {
  await Promise.all([ensureWorkflowBundle(), ensureDeviceBundle()]);
}
