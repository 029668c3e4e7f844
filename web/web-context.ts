/** What the web app's parts share: the options it was created with and the state built from them. */
import type { Client } from '@temporalio/client';
import type { NextFunction, Request, Response } from 'express';
import type { ApplicationService } from '../services/application-service.js';
import type { DeviceBatchService } from '../services/device-batch-service.js';
import type { DeviceService } from '../services/device-service.js';
import type { EnrollmentService } from '../services/enrollment-service.js';
import type { DeviceLogs } from '../store/device-logs.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { HealthMonitor, HealthSnapshot } from './health.js';
import type { LiveHub } from './live.js';
import type { DashboardContext } from './pages/layout.js';
import type { RecentBatches } from './recent-batches.js';
import type { RecentFailures } from './recent-failures.js';
import type { TimelineCache } from './timeline.js';
import type { TrendRecorder } from './trends.js';

export interface WebAppOptions {
  devices: DeviceService;
  applications: ApplicationService;
  logs: DeviceLogs;
  store: ResourceStore;
  apiToken?: string;
  workflowUrl: (workflowId: string) => string;
  temporalUiUrl: string;
  health: () => Promise<Record<string, unknown>>;
  /** Temporal client for step timelines and recent failed workflows (optional in benchmarks). */
  client?: Client;
  /** Health of every process for the overview; without it the overview says "checking". */
  healthMonitor?: HealthMonitor;
  /** How often live views with a change in their scope are rendered, at most (default 200 ms). */
  liveIntervalMs?: number;
  /** How long a live view goes without a render when nothing changed (default 5 s: ages, health). */
  liveMaxIdleMs?: number;
  /** Claim-based enrollment (API, dashboard page); absent in benchmarks that do not need it. */
  enrollments?: EnrollmentService;
  /** The last hour of the fleet for the Trends page; without it the page starts empty. */
  trends?: TrendRecorder;
  /** Tracing's request middleware when OTEL_EXPORTER_OTLP_ENDPOINT is set (platform/tracing.ts). */
  requestTracing?: (req: Request, res: Response, next: NextFunction) => void;
}

export interface WebContext {
  options: WebAppOptions;
  store: ResourceStore;
  /** What every dashboard page needs (CSRF token, links to Temporal). */
  dashboard: DashboardContext;
  live: LiveHub;
  timelines: TimelineCache;
  recentFailures: RecentFailures;
  /** Many devices at once (API and the bulk form). */
  deviceBatches: DeviceBatchService;
  /** The bulk form's batches, for their progress bars. */
  recentBatches: RecentBatches;
  /** Health of every process, or "checking" before the first check. */
  health(): HealthSnapshot;
  counters: { requests: number; errors: number };
}
