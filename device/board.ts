/**
 * `wasmbed-device`: a virtual board in claim mode, started by hand like a real board is
 * powered on. It has no certificate from the platform: it generates its own key in its state
 * dir, enrolls with a claim credential, keeps the certificate it gets, and from then on
 * connects with it (DeviceInfo, heartbeats, apps) like any device, across restarts.
 *
 *   npx wasmbed-device --gateway HOST:PORT --ca CA.pem --name NAME
 *                      (--claim-token TOKEN | --claim-cert CERT.pem --claim-key KEY.pem)
 *                      [--state-dir DIR] [--mcu TYPE]
 *
 * Exit codes: 0 stopped, 1 enrollment rejected (the reason is printed), 2 bad usage.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage } from '../common/errors.js';
import { DNS_LABEL_MESSAGE, isDnsLabel } from '../common/names.js';
import { backoffDelay } from './backoff.js';
import {
  EnrollmentRejectedError,
  enrolledCertificate,
  loadOrCreateKey,
  requestCertificate,
  type ClaimCredential,
} from './enrollment-client.js';
import { parseEndpoint } from './memory-contract.js';
import { readFirmware, VirtualDevice } from './virtual-device.js';

const USAGE = `usage: wasmbed-device --gateway HOST:PORT --ca CA.pem --name NAME
                      (--claim-token TOKEN | --claim-cert CERT.pem --claim-key KEY.pem)
                      [--state-dir DIR] [--mcu TYPE]

The CA certificate is published by the platform at GET /api/v1/pki/ca.pem.
Enrollment tokens: wasmbed enrollment-token create [--name NAME] [--ttl 1h].`;

const FIRMWARE = path.join(import.meta.dirname, 'firmware', 'wasmbed-virtual.fw.json');

function usage(message: string): never {
  process.stderr.write(`wasmbed-device: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        gateway: { type: 'string' },
        ca: { type: 'string' },
        name: { type: 'string' },
        'claim-token': { type: 'string' },
        'claim-cert': { type: 'string' },
        'claim-key': { type: 'string' },
        'state-dir': { type: 'string' },
        mcu: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    usage(errorMessage(err));
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const endpoint = values.gateway ?? usage('--gateway HOST:PORT is required');
  try {
    parseEndpoint(endpoint);
  } catch (err) {
    usage(`--gateway: ${errorMessage(err)}`);
  }
  const name = values.name ?? usage('--name is required');
  if (!isDnsLabel(name)) {
    usage(`--name "${name}" ${DNS_LABEL_MESSAGE}`);
  }
  const stateDir = path.resolve(values['state-dir'] ?? path.join(os.homedir(), '.wasmbed-device', name));
  const key = loadOrCreateKey(stateDir);
  let enrolled = enrolledCertificate(stateDir, key);

  if (!enrolled) {
    const caFile = values.ca ?? usage('--ca CA.pem is required to enroll');
    const caPem = fs.readFileSync(caFile, 'utf8');
    const claim: ClaimCredential = {};
    if (values['claim-token']) claim.token = values['claim-token'];
    else if (values['claim-cert'] && values['claim-key']) {
      claim.certificate = {
        certPem: fs.readFileSync(values['claim-cert'], 'utf8'),
        keyPem: fs.readFileSync(values['claim-key'], 'utf8'),
      };
    } else usage('not enrolled yet: give --claim-token, or --claim-cert and --claim-key');
    const spki = crypto.createPublicKey(key).export({ type: 'spki', format: 'der' });
    // What the operator compares with the dashboard's "CSR fingerprint" before approving.
    log(
      `board ${name}: key fingerprint ${crypto.createHash('sha256').update(spki).digest('hex')}; enrolling`,
    );
    // Ask until the platform answers: a gateway restart or an operator who takes long is normal.
    for (let attempt = 0; !enrolled; attempt++) {
      try {
        enrolled = await requestCertificate({ endpoint, caPem, name, stateDir, claim, log });
      } catch (err) {
        if (err instanceof EnrollmentRejectedError) {
          log(err.message);
          process.stderr.write(`wasmbed-device: ${err.message}\n`);
          process.exit(1);
        }
        const delay = backoffDelay(attempt, { baseMs: 500, capMs: 30_000 });
        log(`enrollment attempt failed (${errorMessage(err)}); asking again in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    log(`enrolled: certificate stored in ${stateDir}`);
  } else {
    log(`board ${name}: enrolled already; connecting with the certificate in ${stateDir}`);
  }

  const credentials = {
    certPem: enrolled.certPem,
    keyPem: fs.readFileSync(path.join(stateDir, 'device.key'), 'utf8'),
    caPem: enrolled.caPem,
  };
  const device = new VirtualDevice({ name, mcuType: values.mcu ?? 'Stm32F746gDisco', log });
  const stop = () => {
    void device.stop().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await device.connect(readFirmware(FIRMWARE), () => ({ endpoint, credentials }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`wasmbed-device: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
