/**
 * deprovisionDevice: stop provisioning, stop the emulator, revoke the certificate,
 * remove the volume, forget the device. Every step tolerates "already gone", so running it
 * twice, or after a partial run, finishes the job.
 */
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import { PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import type { OrchestratorActivities } from '../activities/orchestrator.js';

const activities = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 10 },
});

export async function deprovisionDevice(input: { name: string }): Promise<void> {
  const { name } = input;
  upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Deprovisioning' }]);
  await activities.cancelProvisioning(name);
  await activities.markDeprovisioning(name);
  await activities.stopEmulator(name);
  await activities.revokeCertificate(name);
  await activities.removeVolume(name);
  await activities.deleteDevice(name);
}
