/**
 * The gateway's Prometheus metrics on prom-client, in a registry of their own (a test or a bench
 * may run several gateways in one process; the gateway process serves this registry beside its
 * process registry). The hot-path counts stay plain numbers the device server bumps (tests and
 * benches read them directly); prom-client reads them when scraped. Labels: the gateway name,
 * the request type and outcome — never a device.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DURATION_BUCKETS_SECONDS, counterReading } from '../common/metrics.js';

/** What only the live server knows; read at scrape time. */
export interface GatewayGauges {
  sessions: number;
  handshakesInFlight: number;
  framesOut: number;
  maxDevices: number;
  /** Resources whose status changes the store has not taken yet (a store outage: status-writes.ts). */
  statusWritesPending: number;
  /** Device log lines kept for the store through an outage (device-log-writes.ts). */
  deviceLogLinesPending: number;
  /** Device log lines dropped: kept past the bound in an outage, or unwritten at shutdown. */
  deviceLogLinesDropped: number;
}

/** Lag buckets (seconds past the heartbeat interval). */
const HEARTBEAT_LAG_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

export class GatewayMetrics {
  handshakesStarted = 0;
  handshakesCompleted = 0;
  handshakesRejected = 0;
  /** Connections dropped before the handshake because too many were in flight. */
  handshakesShed = 0;
  sessionsAccepted = 0;
  sessionsReplaced = 0;
  framesIn = 0;
  decodeErrors = 0;
  floodsClosed = 0;
  slowReadersClosed = 0;
  /** EnrollmentRequests received on claim sessions. */
  enrollmentRequests = 0;
  /** Claim sessions closed for sending something other than one EnrollmentRequest, or nothing. */
  enrollmentSessionsClosed = 0;
  /** Claim sessions or requests refused by the per-address or per-credential rate limit. */
  enrollmentsRateLimited = 0;
  /** `type|outcome` → count, for benches that compare before and after. */
  readonly requestOutcomes = new Map<string, number>();

  readonly registry = new Registry();
  private gauges: () => GatewayGauges = () => ({
    sessions: 0,
    handshakesInFlight: 0,
    framesOut: 0,
    maxDevices: 0,
    statusWritesPending: 0,
    deviceLogLinesPending: 0,
    deviceLogLinesDropped: 0,
  });
  private readonly requestDuration: Histogram<'type'>;
  private readonly requests: Counter<'type' | 'outcome'>;
  private readonly heartbeatLag: Histogram;

  constructor(gatewayName = 'gateway') {
    this.registry.setDefaultLabels({ gateway: gatewayName });
    const registers = [this.registry];
    const fromField = (name: string, help: string, read: () => number) =>
      counterReading({ name, help, read }, this.registry);
    const fromGauge = (name: string, help: string, read: (g: GatewayGauges) => number) => {
      const gauges = () => this.gauges();
      return new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(gauges()));
        },
      });
    };
    fromGauge('wasmbed_gateway_sessions', 'Device sessions currently held', (g) => g.sessions);
    fromGauge(
      'wasmbed_gateway_max_devices',
      'Sessions this gateway accepts (spec.maxDevices)',
      (g) => g.maxDevices,
    );
    fromGauge(
      'wasmbed_gateway_status_writes_pending',
      'Devices and applications whose status changes the store has not taken yet',
      (g) => g.statusWritesPending,
    );
    fromGauge(
      'wasmbed_gateway_device_log_lines_pending',
      'Device log lines and publishes the store has not taken yet (kept through a store outage)',
      (g) => g.deviceLogLinesPending,
    );
    fromField(
      'wasmbed_gateway_device_log_lines_dropped_total',
      'Device log lines and publishes lost: past the bound kept through an outage, or at shutdown',
      () => this.gauges().deviceLogLinesDropped,
    );
    fromGauge(
      'wasmbed_gateway_handshakes_in_flight',
      'TLS handshakes not yet finished',
      (g) => g.handshakesInFlight,
    );
    fromField(
      'wasmbed_gateway_handshakes_started_total',
      'TCP connections that began a TLS handshake',
      () => this.handshakesStarted,
    );
    fromField(
      'wasmbed_gateway_handshakes_completed_total',
      'Mutual-TLS handshakes that succeeded',
      () => this.handshakesCompleted,
    );
    fromField(
      'wasmbed_gateway_handshakes_rejected_total',
      'Handshakes or certificates refused',
      () => this.handshakesRejected,
    );
    fromField(
      'wasmbed_gateway_handshakes_shed_total',
      'Connections dropped: too many handshakes in flight',
      () => this.handshakesShed,
    );
    fromField(
      'wasmbed_gateway_sessions_accepted_total',
      'Authenticated sessions',
      () => this.sessionsAccepted,
    );
    fromField(
      'wasmbed_gateway_sessions_replaced_total',
      'Sessions replaced by a newer one of the same device',
      () => this.sessionsReplaced,
    );
    fromField('wasmbed_gateway_frames_in_total', 'Frames received', () => this.framesIn);
    fromField('wasmbed_gateway_frames_out_total', 'Frames sent', () => this.gauges().framesOut);
    fromField(
      'wasmbed_gateway_decode_errors_total',
      'Sessions closed for a protocol error',
      () => this.decodeErrors,
    );
    fromField(
      'wasmbed_gateway_floods_closed_total',
      'Sessions closed for exceeding the frame rate',
      () => this.floodsClosed,
    );
    fromField(
      'wasmbed_gateway_slow_readers_closed_total',
      'Sessions closed for not reading',
      () => this.slowReadersClosed,
    );
    fromField(
      'wasmbed_gateway_enrollment_requests_total',
      'EnrollmentRequests received on claim sessions',
      () => this.enrollmentRequests,
    );
    fromField(
      'wasmbed_gateway_enrollment_sessions_closed_total',
      'Claim sessions closed for sending anything but one EnrollmentRequest',
      () => this.enrollmentSessionsClosed,
    );
    fromField(
      'wasmbed_gateway_enrollments_rate_limited_total',
      'Claim sessions or EnrollmentRequests refused by a rate limit',
      () => this.enrollmentsRateLimited,
    );
    this.requests = new Counter({
      name: 'wasmbed_gateway_requests_total',
      help: 'Requests to devices by message type and outcome',
      labelNames: ['type', 'outcome'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'wasmbed_gateway_request_duration_seconds',
      help: 'Round trip of successful requests to devices',
      labelNames: ['type'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.heartbeatLag = new Histogram({
      name: 'wasmbed_gateway_heartbeat_lag_seconds',
      help: 'How late each heartbeat arrived past the heartbeat interval',
      buckets: HEARTBEAT_LAG_BUCKETS,
      registers,
    });
  }

  /** The plain counts (benchmarks send them over IPC). */
  counts(): Record<string, number> {
    const {
      handshakesStarted,
      handshakesCompleted,
      handshakesRejected,
      handshakesShed,
      sessionsAccepted,
      sessionsReplaced,
      framesIn,
      decodeErrors,
      floodsClosed,
      slowReadersClosed,
      enrollmentRequests,
      enrollmentSessionsClosed,
      enrollmentsRateLimited,
    } = this;
    return {
      handshakesStarted,
      handshakesCompleted,
      handshakesRejected,
      handshakesShed,
      sessionsAccepted,
      sessionsReplaced,
      framesIn,
      decodeErrors,
      floodsClosed,
      slowReadersClosed,
      enrollmentRequests,
      enrollmentSessionsClosed,
      enrollmentsRateLimited,
    };
  }

  /** The live numbers the server knows; set once by the process that serves the metrics. */
  readGaugesFrom(read: () => GatewayGauges): void {
    this.gauges = read;
  }

  observeRequest(type: string, ms: number, outcome: string): void {
    if (outcome === 'ok') this.requestDuration.observe({ type }, ms / 1000);
    this.requests.inc({ type, outcome });
    const key = `${type}|${outcome}`;
    this.requestOutcomes.set(key, (this.requestOutcomes.get(key) ?? 0) + 1);
  }

  /** A heartbeat `gapMs` after the previous one (or the session's start), expected every `intervalMs`. */
  observeHeartbeat(gapMs: number, intervalMs: number): void {
    this.heartbeatLag.observe(Math.max(0, gapMs - intervalMs) / 1000);
  }
}
