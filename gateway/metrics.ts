/** The gateway's Prometheus metrics: plain counters, gauges and one latency histogram. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly bucketsMs: number[] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000],
  ) {
    this.counts = bucketsMs.map(() => 0);
  }

  observe(ms: number): void {
    this.sum += ms;
    this.count++;
    const index = this.bucketsMs.findIndex((upper) => ms <= upper);
    if (index >= 0) this.counts[index]!++;
  }

  render(name: string, labels: string): string[] {
    const lines = [`# TYPE ${name} histogram`];
    let cumulative = 0;
    this.bucketsMs.forEach((upper, i) => {
      cumulative += this.counts[i]!;
      lines.push(`${name}_bucket{${labels},le="${upper / 1000}"} ${cumulative}`);
    });
    lines.push(`${name}_bucket{${labels},le="+Inf"} ${this.count}`);
    lines.push(`${name}_sum{${labels}} ${this.sum / 1000}`, `${name}_count{${labels}} ${this.count}`);
    return lines;
  }
}

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
  readonly requestLatency = new Map<string, Histogram>();
  readonly requestOutcomes = new Map<string, number>();

  observeRequest(type: string, ms: number, outcome: string): void {
    let histogram = this.requestLatency.get(type);
    if (!histogram) this.requestLatency.set(type, (histogram = new Histogram()));
    if (outcome === 'ok') histogram.observe(ms);
    const key = `${type}|${outcome}`;
    this.requestOutcomes.set(key, (this.requestOutcomes.get(key) ?? 0) + 1);
  }

  render(
    gateway: string,
    gauges: { sessions: number; handshakesInFlight: number; framesOut: number },
  ): string {
    const l = `gateway="${gateway}"`;
    const counter = (name: string, help: string, value: number) => [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} counter`,
      `${name}{${l}} ${value}`,
    ];
    const gauge = (name: string, help: string, value: number) => [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} gauge`,
      `${name}{${l}} ${value}`,
    ];
    const lines = [
      ...gauge('wasmbed_gateway_sessions', 'Device sessions currently held', gauges.sessions),
      ...gauge(
        'wasmbed_gateway_handshakes_in_flight',
        'TLS handshakes not yet finished',
        gauges.handshakesInFlight,
      ),
      ...counter(
        'wasmbed_gateway_handshakes_started_total',
        'TCP connections that began a TLS handshake',
        this.handshakesStarted,
      ),
      ...counter(
        'wasmbed_gateway_handshakes_completed_total',
        'Mutual-TLS handshakes that succeeded',
        this.handshakesCompleted,
      ),
      ...counter(
        'wasmbed_gateway_handshakes_rejected_total',
        'Handshakes or certificates refused',
        this.handshakesRejected,
      ),
      ...counter(
        'wasmbed_gateway_handshakes_shed_total',
        'Connections dropped: too many handshakes in flight',
        this.handshakesShed,
      ),
      ...counter('wasmbed_gateway_sessions_accepted_total', 'Authenticated sessions', this.sessionsAccepted),
      ...counter(
        'wasmbed_gateway_sessions_replaced_total',
        'Sessions replaced by a newer one of the same device',
        this.sessionsReplaced,
      ),
      ...counter('wasmbed_gateway_frames_in_total', 'Frames received', this.framesIn),
      ...counter('wasmbed_gateway_frames_out_total', 'Frames sent', gauges.framesOut),
      ...counter(
        'wasmbed_gateway_decode_errors_total',
        'Sessions closed for a protocol error',
        this.decodeErrors,
      ),
      ...counter(
        'wasmbed_gateway_floods_closed_total',
        'Sessions closed for exceeding the frame rate',
        this.floodsClosed,
      ),
      ...counter(
        'wasmbed_gateway_slow_readers_closed_total',
        'Sessions closed for not reading',
        this.slowReadersClosed,
      ),
      ...counter(
        'wasmbed_gateway_enrollment_requests_total',
        'EnrollmentRequests received on claim sessions',
        this.enrollmentRequests,
      ),
      ...counter(
        'wasmbed_gateway_enrollment_sessions_closed_total',
        'Claim sessions closed for sending anything but one EnrollmentRequest',
        this.enrollmentSessionsClosed,
      ),
      ...counter(
        'wasmbed_gateway_enrollments_rate_limited_total',
        'Claim sessions or EnrollmentRequests refused by a rate limit',
        this.enrollmentsRateLimited,
      ),
      '# TYPE wasmbed_gateway_requests_total counter',
      ...[...this.requestOutcomes].map(([key, value]) => {
        const [type, outcome] = key.split('|');
        return `wasmbed_gateway_requests_total{${l},type="${type}",outcome="${outcome}"} ${value}`;
      }),
    ];
    for (const [type, histogram] of this.requestLatency) {
      lines.push(
        ...histogram
          .render('wasmbed_gateway_request_duration_seconds', `${l},type="${type}"`)
          .slice(type === [...this.requestLatency.keys()][0] ? 0 : 1),
      );
    }
    return lines.join('\n') + '\n';
  }
}
