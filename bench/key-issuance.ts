/**
 * What a device identity costs the platform to make, RSA-2048 next to EC P-256, in one run:
 *
 * - key pair: Node's native generator alone;
 * - key + certificate: the CA generates the pair and signs the certificate (no store);
 * - certificate for a device-held key: the CA signs a public key it is given (enrollment, and a
 *   device key kept in the device's volume);
 * - full issuance: `DeviceCertificates.issue` on SQLite, as the issueCertificate activity runs it
 *   (idempotency check, insert in a BEGIN IMMEDIATE transaction);
 * - provisioning's key and certificate on the device host: the key made in the device's volume
 *   (P-256; an RSA-2048 key is written there beforehand, as a board that came with one), read back
 *   and issued a certificate (issueCertificate), then read and issued again (writeEndpoint's
 *   idempotent check) — every parse and conversion of the key that provisioning does.
 *
 * Rounds alternate between the two key types so both see the same machine load. CPU time is
 * this process's user + system time, the stable number on a shared machine.
 *
 *   npx tsx bench/key-issuance.ts [--quick] [--n=200] [--ca=rsa2048|p256] [--out=result.json]
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CertificateAuthority,
  DeviceCertificates,
  SqliteCertificateRepository,
  isKeyType,
} from '../pki/index.js';
import type { KeyType } from '../pki/index.js';
import { generatePrivateKey } from '../pki/keys.js';
import { DEVICE_KEY_FILE, ensureDeviceKey } from '../runtimes/local-volume.js';
import { openDatabase } from '../store/sqlite.js';
import { machine, parseArgs, round, summarize, writeOut } from './support/stats.js';

const args = parseArgs();
const n = args.int('n', args.quick ? 20 : 200);
const caKeyType = args.string('ca') ?? 'rsa2048';
if (!isKeyType(caKeyType)) throw new Error(`--ca=${caKeyType}: expected rsa2048 or p256`);
const startMachine = machine();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-bench-keys-'));
const KEY_TYPES: KeyType[] = ['rsa2048', 'p256'];

interface Measure {
  wallMs: number[];
  cpuMs: number;
}

async function measure(rounds: number, work: (i: number, type: KeyType) => unknown) {
  const result = new Map<KeyType, Measure>(KEY_TYPES.map((t) => [t, { wallMs: [], cpuMs: 0 }]));
  for (let i = 0; i < rounds; i++) {
    for (const type of i % 2 === 0 ? KEY_TYPES : [...KEY_TYPES].reverse()) {
      const cpu = process.cpuUsage();
      const started = performance.now();
      await work(i, type);
      const m = result.get(type)!;
      m.wallMs.push(performance.now() - started);
      const used = process.cpuUsage(cpu);
      m.cpuMs += (used.user + used.system) / 1000;
    }
  }
  return Object.fromEntries(
    [...result].map(([type, m]) => {
      const s = summarize(m.wallMs);
      return [
        type,
        {
          medianMs: s.p50,
          p90Ms: s.p90,
          cpuMsPerDevice: round(m.cpuMs / rounds, 3),
          perSecond: round(1000 / s.mean, 1),
        },
      ];
    }),
  ) as Record<KeyType, { medianMs: number; p90Ms: number; cpuMsPerDevice: number; perSecond: number }>;
}

try {
  const ca = await CertificateAuthority.loadOrCreate(path.join(dir, 'ca'), { keyType: caKeyType });
  const db = openDatabase(path.join(dir, 'wasmbed.db'));
  const certificates = new DeviceCertificates(ca, new SqliteCertificateRepository(db));
  // Public keys the "device-held key" rows sign (made beforehand: their cost is the device's).
  const held = Object.fromEntries(
    KEY_TYPES.map((t) => [
      t,
      Array.from({ length: n }, () =>
        crypto.createPublicKey(generatePrivateKey(t)).export({ type: 'spki', format: 'pem' }).toString(),
      ),
    ]),
  ) as Record<KeyType, string[]>;
  // Volumes for the last row: an RSA key is the device's own (written before); a P-256 one is made.
  const volumes = Object.fromEntries(
    KEY_TYPES.map((t) => [
      t,
      Array.from({ length: n }, (_, i) => {
        const volume = path.join(dir, 'volumes', `${t}-${i}`);
        fs.mkdirSync(volume, { recursive: true });
        if (t === 'rsa2048') {
          const pem = generatePrivateKey(t).export({ type: 'pkcs8', format: 'pem' }).toString();
          fs.writeFileSync(path.join(volume, DEVICE_KEY_FILE), pem, { mode: 0o600 });
        }
        return volume;
      }),
    ]),
  ) as Record<KeyType, string[]>;
  // Warm-up: module loading, OpenSSL and V8 first-call costs out of the numbers.
  for (const type of KEY_TYPES) ca.issueClientCertificate({ commonName: `warm-${type}`, keyType: type });

  const rows = {
    'key pair': await measure(n, (_i, type) => generatePrivateKey(type)),
    'key + certificate (CA)': await measure(n, (i, type) =>
      ca.issueClientCertificate({ commonName: `kc-${type}-${i}`, keyType: type }),
    ),
    'certificate for a device-held key': await measure(n, (i, type) =>
      ca.issueClientCertificate({ commonName: `held-${type}-${i}`, publicKeyPem: held[type][i]! }),
    ),
    'full issuance (DeviceCertificates on SQLite, device-held key)': await measure(n, (i, type) =>
      certificates.issue(`dev-${type}-${i}`, { publicKeyPem: held[type][i]! }),
    ),
    "provisioning's key and certificate on the host (made, issued, issued again)": await measure(
      n,
      async (i, type) => {
        const device = `prov-${type}-${i}`;
        await certificates.issue(device, { publicKeyPem: ensureDeviceKey(volumes[type][i]!).publicKeyPem });
        await certificates.issue(device, { publicKeyPem: ensureDeviceKey(volumes[type][i]!).publicKeyPem });
      },
    ),
  };
  db.close();

  const result = {
    benchmark: 'key-issuance',
    machine: startMachine,
    n,
    ca: ca.keyDescription,
    rows,
    loadAverageAtEnd: machine().loadAverage,
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`\nCA key: ${ca.keyDescription}; n = ${n} per key type`);
  console.log(
    '| step | RSA-2048 median | P-256 median | RSA-2048 CPU/device | P-256 CPU/device | CPU ratio RSA/P-256 | P-256 per second (one core) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const [label, row] of Object.entries(rows)) {
    console.log(
      `| ${label} | ${row.rsa2048.medianMs} ms | ${row.p256.medianMs} ms | ${row.rsa2048.cpuMsPerDevice} ms | ${row.p256.cpuMsPerDevice} ms | ${round(row.rsa2048.cpuMsPerDevice / row.p256.cpuMsPerDevice, 1)}× | ${round(1000 / row.p256.cpuMsPerDevice, 0)} |`,
    );
  }
  writeOut(args.string('out'), result);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
