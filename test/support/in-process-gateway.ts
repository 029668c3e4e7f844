/** A real DeviceServer (real TLS, real sockets) in the test process, with its own CA and database. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { paths } from '../../common/config.js';
import { createLogger } from '../../common/logger.js';
import { currentCertificateCheck } from '../../gateway/current-certificate.js';
import { DeviceServer, type DeviceServerOptions, type GatewayLimits } from '../../gateway/device-server.js';
import { SessionRegistry } from '../../gateway/session-registry.js';
import { CertificateAuthority, DeviceCertificates, SqliteCertificateRepository } from '../../pki/index.js';
import { openDatabase } from '../../store/sqlite.js';

export async function startInProcessGateway(
  limits: Partial<GatewayLimits> = {},
  heartbeatIntervalMs = 500,
  onDeviceMessage?: DeviceServerOptions['onDeviceMessage'],
  /** The gateway's session hooks, as gateway/main.ts wires them (a registry of the test's own). */
  sessions: Partial<Pick<DeviceServerOptions, 'registry' | 'onHeartbeat' | 'onDeviceInfo'>> = {},
) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-gw-'));
  const ca = await CertificateAuthority.loadOrCreate(paths.pki(home));
  const db = openDatabase(paths.db(home));
  const certificates = new DeviceCertificates(ca, new SqliteCertificateRepository(db));
  const serverCert = ca.issueServerCertificate({
    commonName: 'gateway-test',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  });
  const registry = sessions.registry ?? new SessionRegistry();
  const server = new DeviceServer({
    tls: { certPem: serverCert.certPem, keyPem: serverCert.keyPem!, caPem: ca.certPem },
    registry,
    isCurrentCertificate: currentCertificateCheck(certificates),
    heartbeatIntervalMs,
    heartbeatTimeoutMs: heartbeatIntervalMs * 3,
    limits,
    logger: createLogger('test-gateway'),
    onDeviceMessage,
    onHeartbeat: sessions.onHeartbeat,
    onDeviceInfo: sessions.onDeviceInfo,
  });
  const port = await server.listen('127.0.0.1', 0);
  return {
    home,
    ca,
    certificates,
    registry,
    server,
    port,
    endpoint: `127.0.0.1:${port}`,
    async stop() {
      await server.close();
      db.close();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
