/**
 * A fleet written straight into a store, for benchmarks that measure pages and lists rather than
 * provisioning: two Ready gateways and `devices` Connected virtual devices (names dev-0000…,
 * alternately on gateway-0/1 and in group field/lab), each with a completed step timeline.
 * `deviceName` names them otherwise (e.g. as a fleet process's devices, to heartbeat them).
 */
import type { SqliteResourceStore } from '../../store/sqlite-resource-store.js';
import { PROVISIONING_STEPS } from '../../workflows/contracts/index.js';

export async function seedFleet(
  store: SqliteResourceStore,
  devices: number,
  now = new Date().toISOString(),
  deviceName = (i: number) => `dev-${String(i).padStart(4, '0')}`,
): Promise<void> {
  for (const g of ['gateway-0', 'gateway-1']) {
    await store.upsert(
      'Gateway',
      g,
      {
        endpoint: '127.0.0.1:8081',
        maxDevices: 10000,
        heartbeatIntervalSeconds: 5,
        heartbeatTimeoutSeconds: 15,
      },
      {
        phase: 'Ready',
        connectedDevices: devices / 2,
        conditions: [],
        lastSeen: now,
        taskQueue: `wasmbed-gateway-${g}`,
      },
    );
  }
  await store.createMany(
    'Device',
    Array.from({ length: devices }, (_, i) => {
      const name = deviceName(i);
      const labels = { group: i % 2 ? 'lab' : 'field' };
      return {
        name,
        spec: { mcuType: 'Stm32F746gDisco' as const, runtime: 'virtual' as const, labels },
        status: {
          phase: 'Connected' as const,
          conditions: [],
          apps: {},
          gateway: { name: `gateway-${i % 2}`, endpoint: '127.0.0.1:8081' },
          lastHeartbeat: now,
          workflowId: `provision-${name}`,
          steps: PROVISIONING_STEPS.map((s) => ({
            name: s,
            state: 'Succeeded' as const,
            startedAt: now,
            finishedAt: now,
          })),
        },
        labels,
      };
    }),
  );
}
