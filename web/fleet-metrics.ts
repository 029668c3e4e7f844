/**
 * The fleet's gauges, computed from the resource store when Prometheus scrapes the web process
 * (one store pass per scrape, shared by every gauge). Only the web process registers them, so a
 * fleet is counted once however many workers and gateways run. docs/observability.md lists them.
 */
import type { Gauge } from 'prom-client';
import { gauge } from '../common/metrics.js';
import { APP_DEVICE_STATES, APPLICATION_PHASES, DEVICE_PHASES } from '../common/resources.js';
import type { ResourceStore } from '../store/resource-store.js';
import { CERT_EXPIRY_HORIZONS_DAYS, takeFleetSnapshot, type FleetSnapshot } from './fleet-snapshot.js';

export function registerFleetMetrics(store: ResourceStore): void {
  // Every gauge's collect() asks for the snapshot; the first one of a scrape takes it.
  let pending: Promise<FleetSnapshot> | undefined;
  const snapshot = () => {
    pending ??= takeFleetSnapshot(store).finally(() => setTimeout(() => (pending = undefined), 250).unref());
    return pending;
  };
  const fleetGauge = <T extends string>(
    name: string,
    help: string,
    labelNames: readonly T[],
    fill: (g: Gauge<T>, s: FleetSnapshot) => void,
  ) =>
    gauge({
      name,
      help,
      labelNames,
      async collect() {
        const s = await snapshot();
        this.reset();
        fill(this, s);
      },
    });

  fleetGauge('wasmbed_devices', 'Devices by phase and runtime', ['phase', 'runtime'], (g, s) => {
    // Every phase is present (0 when empty) so alerts and charts see a series, not an absence.
    for (const phase of DEVICE_PHASES)
      if (s.devicesByPhase[phase] === 0) g.set({ phase, runtime: 'virtual' }, 0);
    for (const [key, count] of s.devicesByPhaseRuntime) {
      const [phase, runtime] = key.split('|') as [string, string];
      g.set({ phase, runtime }, count);
    }
  });
  fleetGauge(
    'wasmbed_devices_heartbeat_age_max_seconds',
    'Oldest last heartbeat among Connected devices',
    [],
    (g, s) => g.set(s.heartbeatAge.max),
  );
  fleetGauge(
    'wasmbed_devices_heartbeat_age_p50_seconds',
    'Median last-heartbeat age of Connected devices',
    [],
    (g, s) => g.set(s.heartbeatAge.p50),
  );
  fleetGauge('wasmbed_applications', 'Applications (rollouts) by phase', ['phase'], (g, s) => {
    for (const phase of APPLICATION_PHASES) g.set({ phase }, s.applicationsByPhase.get(phase) ?? 0);
  });
  fleetGauge(
    'wasmbed_application_devices',
    'Application instances on devices by state',
    ['state'],
    (g, s) => {
      // Every state the API knows (common/resources.ts), 0 when none: a list of its own here
      // would miss a state added there, its devices left out of the gauge.
      for (const state of APP_DEVICE_STATES) g.set({ state }, s.appStates.get(state) ?? 0);
    },
  );
  fleetGauge(
    'wasmbed_enrollments_pending',
    'Boards waiting for an operator to approve their enrollment',
    [],
    (g, s) => g.set(s.pendingEnrollments),
  );
  fleetGauge(
    'wasmbed_device_certificates_expiring',
    'Device certificates that expire within the given horizon',
    ['within'],
    (g, s) => {
      for (const days of CERT_EXPIRY_HORIZONS_DAYS)
        g.set({ within: `${days}d` }, s.certificatesExpiringWithin.get(days)!);
    },
  );
  fleetGauge(
    'wasmbed_device_certificate_earliest_expiry_timestamp_seconds',
    'When the first device certificate expires (Unix time); absent with no certificates',
    [],
    (g, s) => {
      if (s.earliestCertificateExpiry !== undefined) g.set(s.earliestCertificateExpiry);
    },
  );
}
