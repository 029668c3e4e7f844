/**
 * One device-side connection to a gateway: mutual TLS with the device's credentials,
 * DeviceInfo (Hello) first, then heartbeats at the interval the gateway asks for. Requests
 * from the gateway go to `onRequest`. Used by the virtual device and the fleet client.
 */
import tls from 'node:tls';
import { ProtocolConnection } from '../protocol/connection.js';
import {
  HEARTBEAT_TIMEOUT_INTERVALS,
  type DeviceInfo,
  type Envelope,
  type Message,
} from '../protocol/messages.js';
import { parseEndpoint } from './memory-contract.js';

export interface DeviceCredentialsPem {
  certPem: string;
  keyPem: string;
  caPem: string;
}

export interface DeviceLinkOptions {
  endpoint: string;
  credentials: DeviceCredentialsPem;
  deviceInfo: () => Omit<DeviceInfo, 'type'>;
  /** Answers a gateway request; return undefined to stay silent (tests of timeouts). */
  onRequest?: (body: Message, link: DeviceLink) => Message | undefined | Promise<Message | undefined>;
  onEstablished?: (link: DeviceLink) => void;
  /** The gateway's first message: it has checked the certificate and taken the session. */
  onAnswered?: (link: DeviceLink) => void;
  log?: (line: string) => void;
  bootedAt?: number;
  /** TLS session to resume (fleet benchmarks); the new one is reported through onSession. */
  session?: Buffer;
  onSession?: (session: Buffer) => void;
}

/** Messages kept while the handshake runs; beyond that they are dropped (a log flood while offline). */
const MAX_EARLY_MESSAGES = 64;

export class DeviceLink {
  readonly socket: tls.TLSSocket;
  readonly connection: ProtocolConnection;
  /**
   * Resolves when the link closes, with whether the gateway accepted the session (it answered).
   * A finished TLS handshake is not enough: under TLS 1.3 the client finishes before the
   * gateway has judged its certificate, so a refused device (a revoked copy) would count as
   * connected and retry without backing off.
   */
  readonly closed: Promise<boolean>;
  private heartbeatTimer?: NodeJS.Timeout;
  private livenessTimer?: NodeJS.Timeout;
  private heartbeatIntervalMs = 5000;
  private established = false;
  private answered = false;
  /**
   * Device-initiated messages sent before the handshake finished: they go out after DeviceInfo.
   * (Written at once, TLS queued them ahead of the Hello and the gateway closed the session —
   * which every device of a restarted host did whose apps changed state while it dialled.)
   */
  private readonly early: Message[] = [];

  constructor(private readonly options: DeviceLinkOptions) {
    this.bootedAt = options.bootedAt ?? Date.now();
    const { host, port } = parseEndpoint(options.endpoint);
    const log = options.log ?? (() => {});
    this.socket = tls.connect({
      host,
      port,
      cert: options.credentials.certPem,
      key: options.credentials.keyPem,
      ca: [options.credentials.caPem],
      servername: /^[\d.]+$/.test(host) || host.includes(':') ? undefined : host,
      minVersion: 'TLSv1.2',
      session: options.session,
    });
    if (options.onSession) this.socket.on('session', options.onSession);
    this.connection = new ProtocolConnection(this.socket, {}, 'gateway');
    this.socket.once('secureConnect', () => {
      this.established = true;
      log(`connected to ${options.endpoint} (${this.socket.getProtocol()})`);
      this.connection.send({ type: 'DeviceInfo', ...options.deviceInfo() });
      this.heartbeat();
      this.feedLiveness();
      for (const body of this.early.splice(0)) this.connection.send(body);
      options.onEstablished?.(this);
    });
    this.connection.on('frame', () => this.feedLiveness());
    this.connection.on('message', (envelope) => void this.onMessage(envelope));
    this.connection.on('protocolError', (err) => log(`protocol error from gateway: ${err.message}`));
    this.socket.on('error', (err) => log(`link error: ${err.message}`));
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        clearTimeout(this.heartbeatTimer);
        clearTimeout(this.livenessTimer);
        if (this.established)
          log(this.answered ? 'disconnected' : 'closed by the gateway before it answered');
        resolve(this.answered);
      }),
    );
  }

  private readonly bootedAt: number;

  /**
   * A gateway that stops answering (hung, or a connection that died without a reset) would hold
   * the device on a dead session for good: like the gateway with a silent device, the device
   * gives it 3 heartbeat intervals without a message, then closes, and its owner dials again
   * (docs/protocol.md, "Liveness"; the C firmware does the same).
   */
  private feedLiveness(): void {
    clearTimeout(this.livenessTimer);
    const silentMs = HEARTBEAT_TIMEOUT_INTERVALS * this.heartbeatIntervalMs;
    this.livenessTimer = setTimeout(() => {
      this.options.log?.(`nothing from the gateway in ${silentMs} ms; closing to reconnect`);
      this.socket.destroy();
    }, silentMs);
  }

  private heartbeat(): void {
    this.connection.send({ type: 'Heartbeat', uptimeMs: Math.max(0, Date.now() - this.bootedAt) });
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => this.heartbeat(), this.heartbeatIntervalMs);
  }

  private async onMessage(envelope: Envelope): Promise<void> {
    if (!this.answered) {
      this.answered = true;
      this.options.onAnswered?.(this);
    }
    const body = envelope.body;
    if (body.type === 'HeartbeatAck') {
      if (body.heartbeatIntervalMs > 0 && body.heartbeatIntervalMs !== this.heartbeatIntervalMs) {
        // The gateway sets the pace: re-arm now, or a longer default would outlast its watchdog.
        this.heartbeatIntervalMs = body.heartbeatIntervalMs;
        clearTimeout(this.heartbeatTimer);
        this.heartbeatTimer = setTimeout(() => this.heartbeat(), this.heartbeatIntervalMs);
        this.feedLiveness(); // the next ack comes at the new pace
      }
      return;
    }
    if (body.type === 'RequestDeviceInfo' && !this.options.onRequest) {
      this.connection.send({ type: 'DeviceInfo', ...this.options.deviceInfo() }, envelope.messageId);
      return;
    }
    const reply = await this.options.onRequest?.(body, this);
    if (reply) this.connection.send(reply, envelope.messageId);
  }

  /** Sends a device-initiated message (Log, Publish, ApplicationStatus); before the Hello, keeps it for after. */
  send(body: Message): void {
    if (this.established) this.connection.send(body);
    else if (this.early.length < MAX_EARLY_MESSAGES) this.early.push(body);
  }

  close(): void {
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.livenessTimer);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
}
