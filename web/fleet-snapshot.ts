/**
 * The fleet counted from the resource store: devices by phase and runtime, heartbeat ages,
 * applications by phase, per-device app states, pending enrollments, certificate expiry.
 * One pass over the resources; the fleet metrics (web/fleet-metrics.ts) and the dashboard's
 * trends (web/trends.ts) both read it. Nothing here is per device: only counts and extremes.
 */
import { DEVICE_PHASES, type DevicePhase } from '../common/resources.js';
import type { ResourceStore } from '../store/resource-store.js';

/** Horizons the certificate expiry counts are kept for, in days. */
export const CERT_EXPIRY_HORIZONS_DAYS = [1, 7, 30] as const;

export interface FleetSnapshot {
  at: number;
  /** `${phase}|${runtime}` → devices. */
  devicesByPhaseRuntime: Map<string, number>;
  devicesByPhase: Record<DevicePhase, number>;
  /** Seconds since the last heartbeat, over Connected devices that sent one. */
  heartbeatAge: { max: number; p50: number; count: number };
  applicationsByPhase: Map<string, number>;
  appStates: Map<string, number>;
  pendingEnrollments: number;
  /** Devices whose certificate expires within N days (keys: CERT_EXPIRY_HORIZONS_DAYS). */
  certificatesExpiringWithin: Map<number, number>;
  /** Earliest notAfter of any device certificate, seconds since the epoch; undefined when none. */
  earliestCertificateExpiry?: number;
  /** When each device's provisioning ended with a session (awaitSession finished), ms. */
  provisionedAt: number[];
}

export async function takeFleetSnapshot(store: ResourceStore, now = Date.now()): Promise<FleetSnapshot> {
  const [devices, applications] = await Promise.all([store.list('Device'), store.list('Application')]);
  const devicesByPhase = Object.fromEntries(DEVICE_PHASES.map((p) => [p, 0])) as Record<DevicePhase, number>;
  const devicesByPhaseRuntime = new Map<string, number>();
  const ages: number[] = [];
  const certificatesExpiringWithin = new Map<number, number>(CERT_EXPIRY_HORIZONS_DAYS.map((d) => [d, 0]));
  let earliestCertificateExpiry: number | undefined;
  let pendingEnrollments = 0;
  const provisionedAt: number[] = [];
  for (const device of devices) {
    const { phase } = device.status;
    devicesByPhase[phase] = (devicesByPhase[phase] ?? 0) + 1;
    const key = `${phase}|${device.spec.runtime}`;
    devicesByPhaseRuntime.set(key, (devicesByPhaseRuntime.get(key) ?? 0) + 1);
    if (phase === 'Connected' && device.status.lastHeartbeat) {
      ages.push(Math.max(0, (now - Date.parse(device.status.lastHeartbeat)) / 1000));
    }
    if (device.status.enrollment?.state === 'AwaitingApproval') pendingEnrollments++;
    const notAfter = device.status.identity?.notAfter ? Date.parse(device.status.identity.notAfter) : NaN;
    if (Number.isFinite(notAfter)) {
      const seconds = notAfter / 1000;
      if (earliestCertificateExpiry === undefined || seconds < earliestCertificateExpiry)
        earliestCertificateExpiry = seconds;
      for (const days of CERT_EXPIRY_HORIZONS_DAYS) {
        if (notAfter - now <= days * 86_400_000)
          certificatesExpiringWithin.set(days, certificatesExpiringWithin.get(days)! + 1);
      }
    }
    const finished = device.status.steps?.find((s) => s.name === 'awaitSession')?.finishedAt;
    if (finished) provisionedAt.push(Date.parse(finished));
  }
  ages.sort((a, b) => a - b);
  const applicationsByPhase = new Map<string, number>();
  const appStates = new Map<string, number>();
  for (const app of applications) {
    applicationsByPhase.set(app.status.phase, (applicationsByPhase.get(app.status.phase) ?? 0) + 1);
    for (const state of Object.values(app.status.devices ?? {})) {
      appStates.set(state.state, (appStates.get(state.state) ?? 0) + 1);
    }
  }
  return {
    at: now,
    devicesByPhaseRuntime,
    devicesByPhase,
    heartbeatAge: {
      max: ages.at(-1) ?? 0,
      p50: ages.length > 0 ? ages[Math.floor((ages.length - 1) / 2)]! : 0,
      count: ages.length,
    },
    applicationsByPhase,
    appStates,
    pendingEnrollments,
    certificatesExpiringWithin,
    earliestCertificateExpiry,
    provisionedAt,
  };
}
