/**
 * The gateway's mutual-TLS server. A device is identified only by its client certificate
 * (CN = device name, issued by the platform CA, its current one); everything it says is
 * attributed to that identity. Hostile or broken clients cost bounded resources: handshakes
 * in flight are capped and time out, frames are size- and rate-limited, slow readers dropped.
 */
import crypto from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { serialHex } from '../pki/certificate-info.js';
import { spkiSha256FromPeerCertificate } from '../pki/index.js';
import { ProtocolConnection } from '../protocol/connection.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/framing.js';
import type { Envelope } from '../protocol/messages.js';
import {
  acceptEnrollmentSession,
  ENROLLMENT_ALPN,
  type DeviceServerEnrollment,
} from './enrollment-session.js';
import { GatewayMetrics } from './metrics.js';
import { RateLimiter } from './rate-limiter.js';
import type { SessionHandle, SessionInfo, SessionRegistry } from './session-registry.js';

export interface GatewayLimits {
  maxFrameBytes: number;
  /** Connections whose TLS handshake has not finished; more are dropped at once. */
  maxHandshakesInFlight: number;
  /** A connection that has not completed its handshake by then is closed (slowloris). */
  handshakeTimeoutMs: number;
  /** An authenticated connection must send DeviceInfo (Hello) by then. */
  helloTimeoutMs: number;
  /** Sustained frames per second per session, and the burst above it. */
  framesPerSecond: number;
  frameBurst: number;
  maxBufferedBytes: number;
  /** Claim sessions (enrollment) a source address may open per minute. */
  enrollmentsPerMinutePerAddress: number;
  /** EnrollmentRequests one claim credential may send per minute. */
  enrollmentsPerMinutePerCredential: number;
}

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxHandshakesInFlight: 512,
  handshakeTimeoutMs: 10_000,
  helloTimeoutMs: 10_000,
  framesPerSecond: 50,
  frameBurst: 200,
  maxBufferedBytes: 4 * 1024 * 1024,
  enrollmentsPerMinutePerAddress: 30,
  enrollmentsPerMinutePerCredential: 6,
};

export interface DeviceServerOptions {
  tls: { certPem: string; keyPem: string; caPem: string };
  registry: SessionRegistry;
  /**
   * Whether `serial` is the device's current certificate (not revoked, not superseded); rejects
   * when it cannot tell (the ledger is unreachable).
   */
  isCurrentCertificate(device: string, serial: string): Promise<boolean>;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /**
   * How often a live session's certificate is checked again, on one of its heartbeats (default:
   * the heartbeat timeout). A session whose certificate was revoked or superseded since its
   * handshake — a copy of a device left behind on a dead host after the device was brought
   * back elsewhere with a new key — is closed, and its reconnect is refused.
   */
  certificateRecheckMs?: number;
  limits?: Partial<GatewayLimits>;
  logger: Logger;
  /** Messages a session sends that the server itself does not handle (logs, publishes, status). */
  onDeviceMessage?(session: SessionInfo, envelope: Envelope): void;
  onHeartbeat?(session: SessionInfo): void;
  onDeviceInfo?(session: SessionInfo): void;
  /**
   * Claim-based enrollment. When set, the server also accepts claim certificates (from the
   * claim CA) and, from clients that offer ALPN `wasmbed-enroll`, no client certificate at all;
   * both get a claim-only session (gateway/enrollment-session.ts). Unset: mutual TLS only.
   */
  enrollment?: DeviceServerEnrollment;
}

/** Identifies a TCP connection across its raw and TLS sockets. */
function connectionKey(socket: net.Socket): string {
  return `${socket.localAddress}:${socket.localPort}-${socket.remoteAddress}:${socket.remotePort}`;
}

/** Token bucket: `take()` is false once a session sends faster than its rate plus burst. */
class FrameBudget {
  private tokens: number;
  private last = performance.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class DeviceServer {
  readonly server: tls.Server;
  readonly metrics = new GatewayMetrics();
  readonly limits: GatewayLimits;
  private handshakesInFlight = 0;
  private readonly connections = new Set<net.Socket>();
  /** Settles a connection's in-flight handshake, keyed by remote address and port. */
  private readonly handshaking = new Map<string, () => void>();
  private readonly live = new Set<ProtocolConnection>();
  private closedFramesOut = 0;
  private readonly claimCa?: crypto.X509Certificate;
  private readonly perAddress?: RateLimiter;
  private readonly perCredential?: RateLimiter;

  /** Frames sent, by closed and live sessions alike. */
  get framesOut(): number {
    let total = this.closedFramesOut;
    for (const connection of this.live) total += connection.framesOut;
    return total;
  }

  constructor(private readonly options: DeviceServerOptions) {
    this.limits = { ...DEFAULT_GATEWAY_LIMITS, ...options.limits };
    const enrollment = options.enrollment;
    if (enrollment) {
      this.claimCa = new crypto.X509Certificate(enrollment.claimCaPem);
      this.perAddress = new RateLimiter(
        this.limits.enrollmentsPerMinutePerAddress / 60,
        this.limits.enrollmentsPerMinutePerAddress,
      );
      this.perCredential = new RateLimiter(
        this.limits.enrollmentsPerMinutePerCredential / 60,
        this.limits.enrollmentsPerMinutePerCredential,
      );
    }
    this.server = tls.createServer({
      cert: options.tls.certPem,
      key: options.tls.keyPem,
      ca: enrollment ? [options.tls.caPem, enrollment.claimCaPem] : [options.tls.caPem],
      requestCert: true,
      // With enrollment, accept() decides: a claim session may come without a certificate.
      rejectUnauthorized: !enrollment,
      ...(enrollment ? { ALPNProtocols: [ENROLLMENT_ALPN] } : {}),
      minVersion: 'TLSv1.2', // mbedTLS devices may not offer 1.3
      handshakeTimeout: this.limits.handshakeTimeoutMs,
    });
    // 'connection' fires for the raw TCP socket, before any TLS work is spent on it.
    this.server.on('connection', (raw: net.Socket) => this.admit(raw));
    this.server.on('secureConnection', (socket) => {
      this.accept(socket).catch((err: unknown) =>
        this.refuse(socket, `admission check failed: ${errorMessage(err)}`),
      );
    });
    this.server.on('tlsClientError', (err, socket) => {
      this.metrics.handshakesRejected++;
      options.logger.debug('TLS handshake failed', { remote: socket.remoteAddress, error: err.message });
    });
  }

  get inFlightHandshakes(): number {
    return this.handshakesInFlight;
  }

  private admit(raw: net.Socket): void {
    if (this.handshakesInFlight >= this.limits.maxHandshakesInFlight) {
      this.metrics.handshakesShed++;
      raw.destroy();
      return;
    }
    this.metrics.handshakesStarted++;
    this.handshakesInFlight++;
    this.connections.add(raw);
    const key = connectionKey(raw);
    // Node's own handshakeTimeout does not fire for a client that never sends a byte.
    const slowloris = setTimeout(() => {
      this.metrics.handshakesRejected++;
      raw.destroy();
    }, this.limits.handshakeTimeoutMs);
    const settle = () => {
      if (this.handshaking.get(key) !== settle) return;
      clearTimeout(slowloris);
      this.handshaking.delete(key);
      this.handshakesInFlight--;
    };
    this.handshaking.set(key, settle);
    raw.once('close', () => {
      settle();
      this.connections.delete(raw);
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

  /** Refuses a connection after its handshake (a claim-capable server verifies in accept()). */
  private refuse(socket: tls.TLSSocket, why: string): void {
    this.metrics.handshakesRejected++;
    this.options.logger.warn(`connection refused: ${why}`, { remote: socket.remoteAddress });
    socket.destroy();
  }

  /**
   * Admits a connection after its handshake. The certificate checks ask the store; until they
   * answer, nothing reads the socket (what the peer sends waits in its buffer).
   */
  private async accept(socket: tls.TLSSocket): Promise<void> {
    this.handshaking.get(connectionKey(socket))?.();
    const enrollment = this.options.enrollment;
    if (enrollment) {
      const peerX509 = socket.getPeerX509Certificate();
      if (!socket.authorized) {
        if (peerX509)
          return this.refuse(socket, `untrusted client certificate (${String(socket.authorizationError)})`);
        if (socket.alpnProtocol !== ENROLLMENT_ALPN) return this.refuse(socket, 'no client certificate');
        return this.acceptClaim(socket, undefined);
      }
      if (
        peerX509 &&
        this.claimCa &&
        peerX509.checkIssued(this.claimCa) &&
        peerX509.verify(this.claimCa.publicKey)
      ) {
        const serial = serialHex(peerX509.serialNumber);
        if (!(await enrollment.isUsableClaimCertificate(serial))) {
          return this.refuse(socket, `claim certificate ${serial} is unknown, expired, revoked or spent`);
        }
        if (socket.destroyed) return;
        const cn = socket.getPeerCertificate().subject?.CN;
        return this.acceptClaim(socket, { serial, commonName: typeof cn === 'string' ? cn : '' });
      }
    }
    await this.acceptDevice(socket);
  }

  private acceptClaim(
    socket: tls.TLSSocket,
    claimCertificate: { serial: string; commonName: string } | undefined,
  ) {
    const address = socket.remoteAddress ?? 'unknown';
    if (!this.perAddress!.take(address)) {
      this.metrics.enrollmentsRateLimited++;
      return this.refuse(
        socket,
        `more than ${this.limits.enrollmentsPerMinutePerAddress} claim sessions/minute from ${address}`,
      );
    }
    this.metrics.handshakesCompleted++;
    const connection = new ProtocolConnection(
      socket,
      { maxFrameBytes: this.limits.maxFrameBytes, maxBufferedBytes: this.limits.maxBufferedBytes },
      claimCertificate ? `claim:${claimCertificate.commonName}` : `claim:${address}`,
      'gateway',
    );
    this.live.add(connection);
    socket.on('close', () => {
      this.live.delete(connection);
      this.closedFramesOut += connection.framesOut;
    });
    acceptEnrollmentSession({
      socket,
      connection,
      claimCertificate,
      enrollment: this.options.enrollment!,
      limits: this.limits,
      metrics: this.metrics,
      logger: this.options.logger,
      credentialBudget: (key) => this.perCredential!.take(key),
    });
  }

  private async acceptDevice(socket: tls.TLSSocket): Promise<void> {
    const { logger, registry } = this.options;
    const peer = socket.getPeerCertificate();
    const device = typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined;
    // As the ledger spells it: the session's serial is what the device's status records.
    const serial = peer.serialNumber ? serialHex(peer.serialNumber) : '';
    // No verdict (the ledger did not answer) refuses too: the device dials again.
    const isCurrent = (name: string) => this.options.isCurrentCertificate(name, serial).catch(() => false);
    if (!device || !serial || !(await isCurrent(device))) {
      this.metrics.handshakesRejected++;
      logger.warn('certificate refused: unknown, revoked or superseded', {
        device,
        serial,
        remote: socket.remoteAddress,
      });
      socket.destroy();
      return;
    }
    if (socket.destroyed) return; // closed while the store answered
    this.metrics.handshakesCompleted++;
    const connection = new ProtocolConnection(
      socket,
      { maxFrameBytes: this.limits.maxFrameBytes, maxBufferedBytes: this.limits.maxBufferedBytes },
      device,
      'gateway',
    );
    const info: SessionInfo = {
      device,
      certSerial: serial,
      spkiSha256: spkiSha256FromPeerCertificate(peer),
      notAfter: new Date(peer.valid_to).toISOString(),
      remoteAddress: `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`,
      connectedAt: new Date(),
    };
    let closeReason = 'connection closed';
    const session: SessionHandle = {
      info,
      request: (body, requestOptions) => connection.request(body, requestOptions),
      close: (reason) => {
        closeReason = reason;
        logger.info('closing session', { device, reason });
        socket.destroy();
      },
    };
    const budget = new FrameBudget(this.limits.framesPerSecond, this.limits.frameBurst);
    let registered = false;
    let watchdog = setTimeout(() => session.close('no DeviceInfo (Hello)'), this.limits.helloTimeoutMs);
    const feedWatchdog = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => session.close('heartbeat timeout'), this.options.heartbeatTimeoutMs);
    };
    const register = () => {
      if (registered) return;
      registered = true;
      this.metrics.sessionsAccepted++;
      const previous = registry.add(session);
      if (previous) {
        this.metrics.sessionsReplaced++;
        logger.warn('device connected again; replacing its older session', {
          device,
          old: previous.info.remoteAddress,
          new: info.remoteAddress,
        });
        previous.close(`replaced by a new connection from ${info.remoteAddress}`);
      }
      logger.info('device session up', { device, remote: info.remoteAddress, serial });
    };

    // Every frame counts against the rate and, once the device said Hello, as a sign of life.
    connection.on('frame', (envelope: Envelope) => {
      this.metrics.framesIn++;
      if (!budget.take()) {
        this.metrics.floodsClosed++;
        session.close(`more than ${this.limits.framesPerSecond} frames/s`);
        return;
      }
      if (registered || envelope.body.type === 'DeviceInfo') feedWatchdog();
    });
    // The admission rule again, on a heartbeat now and then: only a definite "no" closes the
    // session (a ledger outage must not drop the fleet).
    const recheckMs = this.options.certificateRecheckMs ?? this.options.heartbeatTimeoutMs;
    let certificateCheckedAt = performance.now();
    const recheckCertificate = () => {
      if (performance.now() - certificateCheckedAt < recheckMs) return;
      certificateCheckedAt = performance.now();
      this.options.isCurrentCertificate(device, serial).then(
        (stillCurrent) => {
          if (!stillCurrent && !socket.destroyed) {
            logger.warn('session certificate revoked or superseded; closing', { device, serial });
            session.close(`certificate ${serial} was revoked or superseded`);
          }
        },
        (err: unknown) =>
          logger.debug('could not recheck a session certificate', { device, error: String(err) }),
      );
    };
    connection.on('message', (envelope: Envelope) => {
      if (socket.destroyed) return;
      this.dispatch(connection, session, envelope, register);
      if (registered && envelope.body.type === 'Heartbeat') recheckCertificate();
    });
    this.live.add(connection);
    connection.on('requestCompleted', (type, ms, outcome) => this.metrics.observeRequest(type, ms, outcome));
    connection.on('protocolError', (err) => {
      this.metrics.decodeErrors++;
      logger.warn('protocol error, closing', { device, reason: err.reason, error: err.message });
    });
    connection.on('slowReader', (bytes) => {
      this.metrics.slowReadersClosed++;
      logger.warn('device does not read; closing', { device, queuedBytes: bytes });
    });
    socket.on('error', (err) => logger.debug('socket error', { device, error: err.message }));
    socket.on('close', () => {
      clearTimeout(watchdog);
      this.live.delete(connection);
      this.closedFramesOut += connection.framesOut;
      if (registered && registry.remove(session, closeReason)) {
        logger.info('device session down', { device, reason: closeReason });
      }
    });
  }

  private dispatch(
    connection: ProtocolConnection,
    session: SessionHandle,
    envelope: Envelope,
    register: () => void,
  ) {
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
        return;
      case 'Heartbeat':
        // A device's first message is its Hello (docs/protocol.md, Session): a Heartbeat before
        // it closes the session like any other message would, instead of being ignored until
        // the Hello deadline.
        if (!this.isCurrent(session)) {
          session.close('Heartbeat before DeviceInfo (Hello)');
          return;
        }
        {
          const now = new Date();
          const previous = session.info.lastHeartbeat ?? session.info.connectedAt;
          this.metrics.observeHeartbeat(now.getTime() - previous.getTime(), this.options.heartbeatIntervalMs);
          session.info.lastHeartbeat = now;
        }
        connection.send(
          {
            type: 'HeartbeatAck',
            serverTimeMs: Date.now(),
            heartbeatIntervalMs: this.options.heartbeatIntervalMs,
          },
          envelope.messageId,
        );
        this.options.onHeartbeat?.(session.info);
        return;
      default:
        // Until its Hello, a device may say nothing else.
        if (!this.isCurrent(session)) {
          session.close(`${body.type} before DeviceInfo (Hello)`);
          return;
        }
        this.options.onDeviceMessage?.(session.info, envelope);
    }
  }

  private isCurrent(session: SessionHandle): boolean {
    return this.options.registry.get(session.info.device) === session;
  }

  /** Stops accepting and closes every session so devices reconnect elsewhere. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.options.registry.list()) session.close('gateway shutting down');
    for (const raw of this.connections) raw.destroy();
    await closed;
  }
}
