/**
 * The board's side of claim-based enrollment (docs/enrollment.md), as the firmware would do
 * it: keep a private key that never leaves the state dir, send a CSR for it with the claim
 * credential over server-authenticated TLS, and keep the certificate that comes back.
 *
 * State dir: `device.key` (PKCS#8 PEM, EC P-256, 0600), `device.crt` and `ca.crt` once enrolled.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { WasmbedError } from '../common/errors.js';
import { createCsr } from '../pki/csr.js';
import { ENROLLMENT_ALPN } from '../gateway/enrollment-session.js';
import { ProtocolConnection, RequestError } from '../protocol/connection.js';
import { EXPECTED_REPLY } from '../protocol/messages.js';
import { parseEndpoint } from './memory-contract.js';

export class EnrollmentRejectedError extends WasmbedError {
  constructor(readonly reason: string) {
    super('EnrollmentRejected', `EnrollmentRejected: ${reason}`);
  }
}

export interface ClaimCredential {
  token?: string;
  /** A claim certificate from the platform's claim CA and its key (factory-provisioned boards). */
  certificate?: { certPem: string; keyPem: string };
}

export interface StateFiles {
  key: string;
  certificate: string;
  ca: string;
}

export function stateFiles(dir: string): StateFiles {
  return {
    key: path.join(dir, 'device.key'),
    certificate: path.join(dir, 'device.crt'),
    ca: path.join(dir, 'ca.crt'),
  };
}

/** The board's private key: generated here on first use, EC P-256, readable by its owner only. */
export function loadOrCreateKey(dir: string): crypto.KeyObject {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = stateFiles(dir).key;
  if (!fs.existsSync(file)) {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    // wx: never overwrite a key that appeared meanwhile; the next read takes that one.
    try {
      fs.writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return crypto.createPrivateKey(fs.readFileSync(file, 'utf8'));
}

/** The stored certificate, if there is one for this key. */
export function enrolledCertificate(
  dir: string,
  key: crypto.KeyObject,
): { certPem: string; caPem: string } | undefined {
  const files = stateFiles(dir);
  if (!fs.existsSync(files.certificate) || !fs.existsSync(files.ca)) return undefined;
  const certPem = fs.readFileSync(files.certificate, 'utf8');
  if (!new crypto.X509Certificate(certPem).checkPrivateKey(key)) return undefined;
  return { certPem, caPem: fs.readFileSync(files.ca, 'utf8') };
}

const toPem = (der: Uint8Array) => new crypto.X509Certificate(Buffer.from(der)).toString();

/**
 * One enrollment attempt: resolves with the certificate (also written to the state dir),
 * rejects with EnrollmentRejectedError when the platform says no, or another error when the
 * connection failed or the answer did not come in time (the caller asks again).
 */
export async function requestCertificate(options: {
  endpoint: string;
  caPem: string;
  name: string;
  stateDir: string;
  claim: ClaimCredential;
  timeoutMs?: number;
  log?: (line: string) => void;
}): Promise<{ certPem: string; caPem: string }> {
  const log = options.log ?? (() => {});
  const key = loadOrCreateKey(options.stateDir);
  const csrDer = createCsr(key, options.name);
  const { host, port } = parseEndpoint(options.endpoint);
  const socket = tls.connect({
    host,
    port,
    ca: [options.caPem],
    servername: /^[\d.]+$/.test(host) || host.includes(':') ? undefined : host,
    minVersion: 'TLSv1.2',
    ALPNProtocols: [ENROLLMENT_ALPN],
    ...(options.claim.certificate
      ? { cert: options.claim.certificate.certPem, key: options.claim.certificate.keyPem }
      : {}),
  });
  const connection = new ProtocolConnection(socket, {}, 'gateway');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('connection closed during the TLS handshake')));
    });
    log(`enrolling as ${options.name} at ${options.endpoint}; waiting for the platform`);
    const reply = await connection.request(
      { type: 'EnrollmentRequest', csrDer, claimToken: options.claim.token ?? null },
      { timeoutMs: options.timeoutMs ?? EXPECTED_REPLY.EnrollmentRequest!.timeoutMs },
    );
    if (reply.type === 'EnrollmentRejected') throw new EnrollmentRejectedError(reply.reason);
    if (reply.type !== 'EnrollmentAccepted')
      throw new RequestError('UnexpectedReply', `gateway answered ${reply.type}`);
    const certPem = toPem(reply.certificateDer);
    const caPem = toPem(reply.caCertificateDer);
    if (!new crypto.X509Certificate(certPem).checkPrivateKey(key)) {
      throw new WasmbedError(
        'EnrollmentMismatch',
        "the certificate the gateway sent is not for this board's key",
      );
    }
    const files = stateFiles(options.stateDir);
    fs.writeFileSync(files.ca, caPem, { mode: 0o644 });
    fs.writeFileSync(files.certificate, certPem, { mode: 0o644 });
    return { certPem, caPem };
  } finally {
    socket.destroy();
  }
}
