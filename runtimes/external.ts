/**
 * Runtime `external`: a real board that enrolled itself (docs/enrollment.md). The platform
 * runs nothing for it and writes nothing into it; deprovisioning only revokes its certificate
 * and removes the Device. Provisioning steps are refused, naming why.
 */
import { ValidationError } from '../common/errors.js';
import type { DeviceRuntimeBackend } from './runtime.js';

function notProvisioned(): never {
  throw new ValidationError(
    'runtime',
    'runtime "external" boards are not provisioned by the platform; they enroll',
  );
}

export class ExternalRuntime implements DeviceRuntimeBackend {
  readonly kind = 'external' as const;
  prepareVolume = notProvisioned;
  deviceKey = notProvisioned; // a board holds its own key; the platform only sees its CSR
  copyFirmware = notProvisioned;
  start = notProvisioned;
  writeMemory = notProvisioned;
  stop(): number {
    return 0;
  }
  removeVolume(): void {}
}
