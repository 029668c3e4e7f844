/**
 * The gateway's admission rule: a device connects only with its current, unrevoked certificate.
 * The same rule is checked again on live sessions (DeviceServer's certificate recheck).
 */
import { ValidationError } from '../common/errors.js';
import type { DeviceCertificates } from '../pki/index.js';
import { serialHex } from '../pki/certificate-info.js';

export function currentCertificateCheck(certificates: DeviceCertificates) {
  return async (device: string, serial: string): Promise<boolean> => {
    try {
      const active = await certificates.findActive(device);
      return active !== undefined && active.serial === serialHex(serial);
    } catch (err) {
      if (err instanceof ValidationError) return false; // a CN that is not a device name
      throw err; // the ledger did not answer: no verdict either way
    }
  };
}
