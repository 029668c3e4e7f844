/**
 * A claim-only session: what a board that has no device certificate yet may do on the
 * gateway. It authenticated with a claim certificate (claim CA) or with nothing but ALPN
 * `wasmbed-enroll` and a token inside its request. It may send exactly one message, an
 * EnrollmentRequest, within the Hello deadline; anything else (a Heartbeat, a DeployAck, a
 * second request) closes the connection. The request is held open until the enrollDevice
 * workflow answers it (EnrollmentAccepted / EnrollmentRejected) or the hold time runs out.
 */
import crypto from 'node:crypto';
import type tls from 'node:tls';
import type { Logger } from '../common/logger.js';
import type { ProtocolConnection } from '../protocol/connection.js';
import type {
  EnrollmentAccepted,
  EnrollmentRejected,
  EnrollmentRequest,
  Envelope,
} from '../protocol/messages.js';
import type { GatewayMetrics } from './metrics.js';

/** The ALPN protocol a board offers to get a claim session without a client certificate. */
export const ENROLLMENT_ALPN = 'wasmbed-enroll';

export interface ClaimCertificateIdentity {
  serial: string;
  commonName: string;
}

/** One held EnrollmentRequest, as the gateway's enrollment handler sees it. */
export interface EnrollmentConnection {
  readonly id: string;
  /** `ip:port` of the board. */
  readonly remoteAddress: string;
  readonly claimCertificate?: ClaimCertificateIdentity;
  /** Sends the answer to the request and closes; false when the connection is already gone. */
  answer(body: EnrollmentAccepted | EnrollmentRejected): boolean;
  close(reason: string): void;
  readonly isOpen: boolean;
}

export interface DeviceServerEnrollment {
  claimCaPem: string;
  /** Known, unexpired, unrevoked and not spent by a rejected enrollment. */
  isUsableClaimCertificate(serial: string): Promise<boolean>;
  /** Called once per claim session with its request; the answer comes later through `answer`. */
  onRequest(connection: EnrollmentConnection, request: EnrollmentRequest): Promise<void> | void;
  /** How long a request is held open for its answer (a board re-sends after its own timeout). */
  holdMs: number;
}

export function acceptEnrollmentSession(deps: {
  socket: tls.TLSSocket;
  connection: ProtocolConnection;
  claimCertificate?: ClaimCertificateIdentity;
  enrollment: DeviceServerEnrollment;
  limits: { helloTimeoutMs: number };
  metrics: GatewayMetrics;
  logger: Logger;
  /** Per-credential rate limit: false when this credential asked too often. */
  credentialBudget(key: string): boolean;
}): void {
  const { socket, connection, claimCertificate, metrics, logger } = deps;
  const remoteAddress = `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`;
  let requestId: number | undefined;
  let answered = false;
  const close = (reason: string) => {
    if (socket.destroyed) return;
    logger.info('closing claim session', { remote: remoteAddress, reason });
    socket.destroy();
  };
  let deadline = setTimeout(() => {
    metrics.enrollmentSessionsClosed++;
    close('no EnrollmentRequest in time');
  }, deps.limits.helloTimeoutMs);
  // Waiting for an operator can take long and nothing flows meanwhile: keep NATs open.
  socket.setKeepAlive(true, 30_000);

  const handle: EnrollmentConnection = {
    id: crypto.randomUUID(),
    remoteAddress,
    ...(claimCertificate ? { claimCertificate } : {}),
    get isOpen() {
      return !socket.destroyed && !answered;
    },
    answer(body) {
      if (socket.destroyed || answered || requestId === undefined) return false;
      answered = true;
      clearTimeout(deadline);
      connection.send(body, requestId);
      // Let the answer drain; the board closes too and reconnects with its certificate.
      socket.end();
      setTimeout(() => socket.destroy(), 5_000).unref();
      return true;
    },
    close,
  };

  const refuse = (reason: string) => {
    logger.warn('enrollment refused at the gateway', { remote: remoteAddress, reason });
    handle.answer({ type: 'EnrollmentRejected', reason });
  };

  connection.on('message', (envelope: Envelope) => {
    if (socket.destroyed) return;
    const body = envelope.body;
    if (requestId !== undefined || body.type !== 'EnrollmentRequest') {
      metrics.enrollmentSessionsClosed++;
      close(
        requestId === undefined
          ? `${body.type} on a claim session: a claim credential may only send EnrollmentRequest`
          : `${body.type} after EnrollmentRequest: a claim session carries one request`,
      );
      return;
    }
    metrics.enrollmentRequests++;
    requestId = envelope.messageId;
    clearTimeout(deadline);
    deadline = setTimeout(() => close('enrollment not answered in time'), deps.enrollment.holdMs);
    const credentialKey = claimCertificate
      ? `certificate:${claimCertificate.serial}`
      : body.claimToken
        ? `token:${crypto.createHash('sha256').update(body.claimToken).digest('hex')}`
        : undefined;
    if (!credentialKey) {
      refuse('no claim credential: send a claim token or connect with a claim certificate');
      return;
    }
    if (!deps.credentialBudget(credentialKey)) {
      metrics.enrollmentsRateLimited++;
      refuse('too many enrollment requests with this claim credential; try again later');
      return;
    }
    Promise.resolve()
      .then(() => deps.enrollment.onRequest(handle, body))
      .catch((err: unknown) => {
        logger.error('enrollment handler failed', { error: String(err) });
        refuse('the gateway could not take the request; try again later');
      });
  });
  connection.on('protocolError', (err) => {
    metrics.decodeErrors++;
    logger.warn('protocol error on claim session, closing', { remote: remoteAddress, error: err.message });
  });
  socket.on('error', (err) => logger.debug('claim session socket error', { error: err.message }));
  socket.on('close', () => clearTimeout(deadline));
}
