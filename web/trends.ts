/**
 * The fleet over the last hour, kept in the web process for the dashboard's trend charts: a
 * fleet snapshot every `intervalMs` (devices by phase, heartbeat ages) in a ring of one hour,
 * and provisioning completions per minute read from the devices' step times. In memory only:
 * a restarted web process starts a new hour (Prometheus keeps the long history).
 */
import type { DevicePhase } from '../common/resources.js';
import type { ResourceStore } from '../store/resource-store.js';
import { takeFleetSnapshot, type FleetSnapshot } from './fleet-snapshot.js';

export const TREND_WINDOW_MS = 60 * 60_000;

export interface TrendSample {
  at: number;
  devicesByPhase: Record<DevicePhase, number>;
  heartbeatAgeP50: number;
  heartbeatAgeMax: number;
}

export interface Trends {
  samples: TrendSample[];
  /** Provisionings completed per minute over the window, oldest first (60 buckets). */
  provisionedPerMinute: { start: number; count: number }[];
  now: number;
}

export class TrendRecorder {
  private readonly samples: TrendSample[] = [];
  private latest?: FleetSnapshot;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly store: ResourceStore,
    private readonly intervalMs = 30_000,
  ) {}

  start(): this {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async sample(now = Date.now()): Promise<void> {
    try {
      this.record(await takeFleetSnapshot(this.store, now));
    } catch {
      // A store outage leaves a gap in the chart, nothing worse.
    }
  }

  record(snapshot: FleetSnapshot): void {
    this.latest = snapshot;
    this.samples.push({
      at: snapshot.at,
      devicesByPhase: snapshot.devicesByPhase,
      heartbeatAgeP50: snapshot.heartbeatAge.p50,
      heartbeatAgeMax: snapshot.heartbeatAge.max,
    });
    const cutoff = snapshot.at - TREND_WINDOW_MS;
    while (this.samples.length > 0 && this.samples[0]!.at < cutoff) this.samples.shift();
  }

  trends(now = Date.now()): Trends {
    const minute = 60_000;
    const end = Math.ceil(now / minute) * minute;
    const buckets = Array.from({ length: 60 }, (_, i) => ({ start: end - (60 - i) * minute, count: 0 }));
    for (const at of this.latest?.provisionedAt ?? []) {
      const index = Math.floor((at - buckets[0]!.start) / minute);
      if (index >= 0 && index < buckets.length) buckets[index]!.count++;
    }
    const samples = this.samples.filter((s) => s.at >= now - TREND_WINDOW_MS);
    return { samples, provisionedPerMinute: buckets, now };
  }
}
