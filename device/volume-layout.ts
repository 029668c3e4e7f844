/** Files in a virtual device's volume, shared by the runtime that writes them and the device that reads them. */
import path from 'node:path';

export const volumeFiles = (volume: string) => ({
  firmware: path.join(volume, 'firmware.img'),
  memory: path.join(volume, 'memory.bin'),
  /** Present once the CPU may run: the memory blocks are written before it appears. */
  cpuRun: path.join(volume, 'cpu.run'),
  uart: path.join(volume, 'uart.log'),
  /** Written by the device, with its pid, once its firmware image checked out. */
  booted: path.join(volume, 'booted'),
});
