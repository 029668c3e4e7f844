/** The gateway's admission rule: a device connects only with its current, unrevoked certificate. */
import type { DeviceCertificates } from '../pki/index.js';
import { normalizeSerial } from './device-server.js';

export function currentCertificateCheck(certificates: DeviceCertificates) {
  return (device: string, serial: string): boolean => {
    try {
      const active = certificates.findActive(device);
      return active !== undefined && normalizeSerial(active.serial) === serial;
    } catch {
      return false; // a CN that is not a device name
    }
  };
}
