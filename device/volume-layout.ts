/** Files in a virtual device's volume, shared by the runtime that writes them and the device that reads them. */
import path from 'node:path';

export const volumeFiles = (volume: string) => ({
  firmware: path.join(volume, 'firmware.img'),
  memory: path.join(volume, 'memory.bin'),
  /** Present once the CPU may run: the memory blocks are written before it appears. */
  cpuRun: path.join(volume, 'cpu.run'),
  /** The UART log: the device's own lines and its apps' (the host rotates it: common/rotating-log-file.ts). */
  uart: path.join(volume, 'uart.log'),
  /** Written by the device, with its pid (or its device host's boot id), once its firmware image checked out. */
  booted: path.join(volume, 'booted'),
  /**
   * Which device host runs this device, and how (JSON `{host, mcuType}`): present while the
   * device should run, so a restarted host resumes it. Removed when the device is stopped.
   */
  owner: path.join(volume, 'host.json'),
  /** The apps the device runs, kept like a board keeps them in flash (device/app-flash.ts). */
  apps: path.join(volume, 'apps'),
});
