/**
 * Entry point of one virtual device process:
 *   node --import tsx device/main.ts --device=<name> --volume=<dir>
 * Its stdout is the device's UART.
 */
import { parseArgs } from 'node:util';
import { volumeFiles } from './volume-layout.js';
import { VirtualDevice } from './virtual-device.js';
import { errorMessage } from '../common/errors.js';

const { values } = parseArgs({
  options: { device: { type: 'string' }, volume: { type: 'string' }, 'mcu-type': { type: 'string' } },
});
if (!values.device || !values.volume) {
  process.stderr.write('usage: device/main.ts --device=<name> --volume=<dir> [--mcu-type=<type>]\n');
  process.exit(2);
}

const device = new VirtualDevice({
  name: values.device,
  mcuType: values['mcu-type'] ?? 'Stm32F746gDisco',
  files: volumeFiles(values.volume),
});
const shutdown = () => {
  void device.stop().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
device.run().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`device ${values.device} halted: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
