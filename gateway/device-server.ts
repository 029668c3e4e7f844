/**
 * The gateway's mutual-TLS server. A device is identified only by its client certificate
 * (CN = device name, issued by the platform CA and not revoked); everything it says is
 * attributed to that identity.
 */
import tls from 'node:tls';
import type { Logger } from '../common/logger.js';
import { spkiSha256FromPeerCertificate } from '../pki/index.js';
import { ProtocolConnection } from '../protocol/connection.js';
import type { Envelope } from '../protocol/messages.js';
import type { SessionHandle, SessionInfo, SessionRegistry } from './session-registry.js';

export interface DeviceServerOptions {
  tls: { certPem: string; keyPem: string; caPem: string };
  registry: SessionRegistry;
  /** Whether `serial` is the device's current certificate (not revoked, not superseded). */
  isCurrentCertificate(device: string, serial: string): boolean;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  maxFrameBytes?: number;
  logger: Logger;
  onHeartbeat?(session: SessionInfo): void;
  onDeviceInfo?(session: SessionInfo): void;
}

export interface DeviceServerStats {
  handshakesRejected: number;
  sessionsAccepted: number;
  protocolErrors: number;
  framesReceived: number;
}

/** Node prints serials in upper-case hex, possibly with leading zeros; the PKI records lower-case. */
export function normalizeSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+(?=.)/, '');
}

export class DeviceServer {
  readonly server: tls.Server;
  readonly stats: DeviceServerStats = { handshakesRejected: 0, sessionsAccepted: 0, protocolErrors: 0, framesReceived: 0 };

  constructor(private readonly options: DeviceServerOptions) {
    this.server = tls.createServer({
      cert: options.tls.certPem,
      key: options.tls.keyPem,
      ca: [options.tls.caPem],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2', // mbedTLS devices may not offer 1.3
      handshakeTimeout: 10_000,
    });
    this.server.on('secureConnection', (socket) => this.accept(socket));
    this.server.on('tlsClientError', (err, socket) => {
      this.stats.handshakesRejected++;
      options.logger.warn('TLS handshake refused', { remote: socket.remoteAddress, error: err.message });
    });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  private accept(socket: tls.TLSSocket): void {
    const { logger, registry } = this.options;
    const peer = socket.getPeerCertificate();
    const device = typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined;
    const serial = peer.serialNumber ? normalizeSerial(peer.serialNumber) : '';
    if (!device || !serial) {
      this.stats.handshakesRejected++;
      logger.warn('certificate without CN or serial', { remote: socket.remoteAddress });
      socket.destroy();
      return;
    }
    if (!this.options.isCurrentCertificate(device, serial)) {
      this.stats.handshakesRejected++;
      logger.warn('revoked or superseded certificate refused', { device, serial });
      socket.destroy();
      return;
    }
    this.stats.sessionsAccepted++;
    const connection = new ProtocolConnection(socket, this.options.maxFrameBytes);
    const info: SessionInfo = {
      device,
      certSerial: serial,
      spkiSha256: spkiSha256FromPeerCertificate(peer),
      remoteAddress: socket.remoteAddress ?? 'unknown',
      connectedAt: new Date(),
    };
    const session: SessionHandle = {
      info,
      close: (reason) => {
        logger.info('closing session', { device, reason });
        socket.destroy();
      },
    };
    let registered = false;
    let watchdog = setTimeout(() => session.close('no heartbeat'), this.options.heartbeatTimeoutMs);
    const feedWatchdog = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => session.close('heartbeat timeout'), this.options.heartbeatTimeoutMs);
    };
    const register = () => {
      if (registered) return;
      registered = true;
      const previous = registry.add(session);
      if (previous) previous.close(`replaced by a new connection from ${info.remoteAddress}`);
      logger.info('device session up', { device, remote: info.remoteAddress, serial });
    };

    connection.on('message', (envelope: Envelope) => {
      this.stats.framesReceived++;
      feedWatchdog();
      this.dispatch(connection, session, envelope, register);
    });
    connection.on('protocolError', (err) => {
      this.stats.protocolErrors++;
      logger.warn('protocol error, closing', { device, reason: err.reason, error: err.message });
    });
    socket.on('error', (err) => logger.debug('socket error', { device, error: err.message }));
    socket.on('close', () => {
      clearTimeout(watchdog);
      if (registered && registry.remove(session, 'closed')) logger.info('device session down', { device });
    });
  }

  private dispatch(connection: ProtocolConnection, session: SessionHandle, envelope: Envelope, register: () => void) {
    const body = envelope.body;
    switch (body.type) {
      case 'DeviceInfo':
        session.info.deviceInfo = {
          firmwareVersion: body.firmwareVersion,
          mcuType: body.mcuType,
          freeMemory: body.freeMemory,
          maxAppSize: body.maxAppSize,
        };
        register();
        this.options.onDeviceInfo?.(session.info);
        break;
      case 'Heartbeat':
        session.info.lastHeartbeat = new Date();
        connection.send(
          { type: 'HeartbeatAck', serverTimeMs: Date.now(), heartbeatIntervalMs: this.options.heartbeatIntervalMs },
          envelope.messageId,
        );
        if (this.options.registry.get(session.info.device) === session) this.options.onHeartbeat?.(session.info);
        break;
      default:
        // Later capabilities (deploy, logs, enrollment) hook in here; unknown-but-valid messages are ignored.
        this.options.logger.debug('unhandled message', { device: session.info.device, type: body.type });
    }
  }

  /** Stops accepting and closes every session so devices reconnect elsewhere. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.options.registry.list()) session.close('gateway shutting down');
    await closed;
  }
}
