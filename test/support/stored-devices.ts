/** Devices written straight into a store, as provisioning leaves them: Connected, no apps yet. */
import type { ResourceStore } from '../../store/resource-store.js';

export async function storeConnectedDevice(store: ResourceStore, name: string): Promise<void> {
  await store.create(
    'Device',
    name,
    { mcuType: 'Mps2An385', runtime: 'virtual' },
    { phase: 'Connected', conditions: [], apps: {} },
  );
}
