/**
 * deprovisionDevice: stop provisioning, stop the emulator, revoke the certificate,
 * remove the volume, forget the device. Every step tolerates "already gone", so running it
 * twice, or after a partial run, finishes the job.
 */
import { patched, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import { PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import type { DeviceRuntimeActivities } from '../activities/device-runtime.js';
import type { OrchestratorActivities } from '../activities/orchestrator.js';
import type { GatewayActivities } from '../gateway/activities.js';
import type { DeprovisionDeviceInput } from './contracts/index.js';
import { Patch } from './patches.js';

const activities = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 10 },
});

export async function deprovisionDevice(input: DeprovisionDeviceInput): Promise<void> {
  const { name } = input;
  upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: 'Deprovisioning' }]);
  await activities.cancelProvisioning(name);
  await activities.markDeprovisioning(name);
  // Read before the device row goes: where a real board (nothing to stop) holds its session.
  const holder = patched(Patch.closeSessionOnDeprovision) ? await activities.sessionGateway(name) : null;
  // The emulator and volume are the owning host's: its runtime activities run there.
  const host = await activities.deviceHost(name);
  const runtime = proxyActivities<DeviceRuntimeActivities>({
    taskQueue: host.taskQueue,
    scheduleToStartTimeout: '2 minutes',
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 10 },
  });
  await runtime.stopEmulator(name);
  await activities.revokeCertificate(name);
  if (holder) {
    // The certificate is revoked, so the board cannot come back; end the session it still has.
    await proxyActivities<GatewayActivities>({
      taskQueue: holder.taskQueue,
      scheduleToStartTimeout: '10s',
      startToCloseTimeout: '10s',
      retry: { maximumAttempts: 2 },
    })
      .closeSession({ device: name, reason: 'device deleted; certificate revoked' })
      .catch(() => undefined); // that gateway is gone: so is the session
  }
  await runtime.removeVolume(name);
  await activities.deleteDevice(name);
}
