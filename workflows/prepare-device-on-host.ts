/**
 * prepareDeviceOnHost: provisioning's steps on the device's host — certificate for the key made
 * in its volume, volume, firmware, emulator — run by the host's own workflow worker (task queue
 * `wasmbed-host-<id>`, host/main.ts) as LOCAL activities (host-steps.ts), for a provisioning run
 * that is not on that host's queue itself (one started on the orchestrator's). Each stays a retryable, idempotent
 * activity that the Web UI and the dashboard's timeline show (a local-activity marker in this
 * child's history), but the four cost one child workflow through the server instead of four
 * activity tasks and four workflow tasks: the round trips per device are what bound
 * provisioning's throughput (BENCHMARKS.md, "Provisioning at fleet scale").
 */
import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import { FailureType } from '../common/failures.js';
import type { PrepareDeviceOnHostInput, PreparedDevice, ProvisioningStepName } from './contracts/index.js';
import { asNonRetryable } from './errors.js';
import { hostStepsHere } from './host-steps.js';
import { validateDnsLabel } from '../common/validation.js';

export async function prepareDeviceOnHost(input: PrepareDeviceOnHostInput): Promise<PreparedDevice> {
  const name = asNonRetryable(() => validateDnsLabel('name', input.name));
  let step: ProvisioningStepName = 'issueCertificate';
  try {
    return await hostStepsHere({ ...input, name }, (at) => (step = at));
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Names the step for provisionDevice, which marks the device Failed at it; the activity's
    // failure (and its root cause) stays the cause.
    throw ApplicationFailure.create({
      type: FailureType.HostStepFailed,
      message: `${step} failed`,
      details: [step],
      nonRetryable: true,
      cause: err instanceof Error ? err : undefined,
    });
  }
}
