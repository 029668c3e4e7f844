/**
 * A device host that comes back after its devices were moved to another host (it was down past
 * the grace period) or deleted must not keep their volumes: each holds a private key, a memory
 * image and the device's apps, and nothing else would ever remove it. Before, the host only
 * cleared the owner marker — a machine back from a kill -9 kept all 88 volumes of the devices
 * that had moved off it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createLogger } from '../common/logger.js';
import { HostedVirtualRuntime } from '../host/hosted-virtual-runtime.js';

let home: string;
let runtime: HostedVirtualRuntime;

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-resume-volumes-'));
  runtime = new HostedVirtualRuntime(home, 'host-a', createLogger('test'), 1024 * 1024);
});
afterEach(async () => {
  await runtime.stopAll();
  fs.rmSync(home, { recursive: true, force: true });
});

/** A volume as a device that ran on `host` leaves it: key, memory image, apps and the owner marker. */
function volumeOwnedBy(device: string, host: string): string {
  runtime.prepareVolume(device);
  runtime.deviceKey(device);
  const volume = runtime.volumeOf(device);
  fs.mkdirSync(path.join(volume, 'apps'), { recursive: true });
  fs.writeFileSync(path.join(volume, 'apps', 'blinky.wasm'), 'module');
  runtime.markOwner(device, { host, mcuType: 'Stm32F746gDisco' });
  return volume;
}

it('removes the volumes of devices placed elsewhere or deleted, and leaves other hosts’ volumes', async () => {
  const moved = volumeOwnedBy('moved', 'host-a');
  const deleted = volumeOwnedBy('deleted', 'host-a');
  const another = volumeOwnedBy('another-hosts', 'host-b');

  const resumed = await runtime.resumeOwned(() => false);

  expect(resumed).toBe(0);
  expect(fs.existsSync(moved)).toBe(false);
  expect(fs.existsSync(deleted)).toBe(false);
  // Not this host's to judge: its marker names another host.
  expect(fs.existsSync(another)).toBe(true);
});

it('removes a volume without an owner marker whose device is not placed here, and keeps one that is', async () => {
  // A run moved off this host before it started the device here, or a volume an earlier version
  // left with only its marker cleared.
  const stray = volumeOwnedBy('stray', 'host-a');
  runtime.clearOwner('stray');
  // Placed here, its provisioning not yet at the start: no marker yet, and it stays.
  const preparing = volumeOwnedBy('preparing', 'host-a');
  runtime.clearOwner('preparing');

  await runtime.removeStrayVolumes(async (device) => device === 'preparing');

  expect(fs.existsSync(stray)).toBe(false);
  expect(fs.existsSync(preparing)).toBe(true);
});
