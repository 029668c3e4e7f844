/**
 * The liveness watchdog: one loop in the orchestrator worker that watches every gateway's and
 * device host's heartbeat (the Gateway resource's lastSeen, store/host-registry.ts) and, when one
 * goes silent, sends `checkHealth` to the lifecycle of each device it held. The lifecycle's
 * check (activities/lifecycle.ts) then decides — recovery, or nothing if the device is fine.
 *
 * It replaces a timer per device: idle, it reads two small tables every few seconds and signals
 * nothing, where a 10 s check in every lifecycle was 100 workflow tasks a second at 1,000
 * devices. It keeps no durable state: each silent gateway or host is signalled once when it
 * goes silent (and once more after this worker restarts); duplicates are harmless, since a
 * signal only asks for a check. A device's own session breaking is the gateway's to report
 * (gateway/main.ts signals `disconnected`); a missed signal is caught by the lifecycle's slow
 * safety-net check.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Device } from '../common/resources.js';
import type { Logger } from '../common/logger.js';
import { errorMessage } from '../common/errors.js';
import type { HostRegistry } from '../store/host-registry.js';
import type { ResourceStore } from '../store/resource-store.js';
import { workflowHandle } from '../temporal/workflow-calls.js';
import {
  checkHealthSignal,
  deviceLifecycleWorkflow,
  lifecycleWorkflowId,
} from '../workflows/contracts/index.js';

/** Asks one device's lifecycle for a check. */
export type CheckRequest = (device: string, reason: string) => Promise<void>;

/**
 * Moves a device's provisioning off a dead host (workers/provisioning-rescue.ts): a run started
 * on the host's own queue waits for that host for ever, since no other worker polls it.
 */
export type ProvisioningRescue = (device: Device, deadHost: string) => Promise<void>;

export interface LivenessWatchdogOptions {
  store: ResourceStore;
  hosts: HostRegistry;
  /** Sends the signal (signalLifecycleCheck in production). */
  requestCheck: CheckRequest;
  /** For devices still provisioning on a host that died (rescueProvisioning in production). */
  rescueProvisioning?: ProvisioningRescue;
  logger: Logger;
  gatewayStaleMs: number;
  /**
   * A host silent this long is dead and its devices move (the host grace period, as placement
   * and the lifecycle's check decide it); a shorter silence is a restart the host rides out.
   */
  hostDeadMs: number;
  /** How often to look (default 2 s, a gateway's own reporting interval). */
  everyMs?: number;
  now?: () => number;
}

/** Devices whose lifecycle is running and watching: the others have nothing to check. */
const WATCHED = new Set<Device['status']['phase']>(['Connected', 'Disconnected', 'Unreachable']);
/** Devices whose provisioning may be running (on their host's queue). */
const PROVISIONING = new Set<Device['status']['phase']>(['Pending', 'Provisioning']);
/** Signals sent side by side: a gateway with thousands of devices is told in batches. */
const SIGNAL_CONCURRENCY = 64;

export class LivenessWatchdog {
  private readonly silentGateways = new Set<string>();
  private readonly silentHosts = new Set<string>();
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;

  constructor(private readonly options: LivenessWatchdogOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      // A tick still under way when the next is due is not doubled.
      this.ticking ??= this.tick()
        .then(() => undefined)
        .catch((err: unknown) =>
          this.options.logger.warn('liveness watchdog tick failed', { error: errorMessage(err) }),
        )
        .finally(() => (this.ticking = undefined));
    }, this.options.everyMs ?? 2000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
  }

  /** One look: signals the devices of every gateway and host that went silent since the last. */
  async tick(): Promise<number> {
    const { store, hosts, gatewayStaleMs, hostDeadMs } = this.options;
    const now = (this.options.now ?? Date.now)();
    const gateways = await store.list('Gateway');
    const silentGateways = gateways
      .filter(
        (g) => g.status.phase !== 'Ready' || !(now - Date.parse(g.status.lastSeen ?? '') < gatewayStaleMs),
      )
      .map((g) => g.metadata.name);
    const silentHosts = (await hosts.list()).filter((h) => !(now - h.lastSeen < hostDeadMs)).map((h) => h.id);
    const newGateways = updateSilent(this.silentGateways, silentGateways);
    const newHosts = updateSilent(this.silentHosts, silentHosts);
    if (newGateways.length === 0 && newHosts.length === 0) return 0;

    const checks: { device: string; reason: string }[] = [];
    const rescues: { device: Device; host: string }[] = [];
    for (const d of await store.list('Device')) {
      const host = d.status.host;
      if (PROVISIONING.has(d.status.phase)) {
        // A run the API started on a host's queue records the host only once that host takes it
        // (beginProvisioning runs there): one whose host died first has none, and its run may
        // be on any host that died (the rescue looks at the run's queue and leaves the others).
        const suspects = host === undefined ? newHosts : newHosts.filter((h) => h === host);
        for (const dead of suspects) rescues.push({ device: d, host: dead });
        continue;
      }
      if (!WATCHED.has(d.status.phase)) continue;
      const gateway = d.status.gateway?.name;
      const reason =
        gateway !== undefined && newGateways.includes(gateway)
          ? `gateway ${gateway} went silent`
          : host !== undefined && newHosts.includes(host)
            ? `device host ${host} is gone`
            : undefined;
      if (reason) checks.push({ device: d.metadata.name, reason });
    }
    this.options.logger.warn('gateways or device hosts went silent; asking their devices for a check', {
      gateways: newGateways,
      hosts: newHosts,
      devices: checks.length,
      provisioning: rescues.length,
    });
    await this.rescue(rescues);
    for (let i = 0; i < checks.length; i += SIGNAL_CONCURRENCY) {
      await Promise.all(
        checks.slice(i, i + SIGNAL_CONCURRENCY).map(({ device, reason }) =>
          this.options.requestCheck(device, reason).catch((err: unknown) =>
            this.options.logger.warn('could not ask a lifecycle for a check', {
              device,
              error: errorMessage(err),
            }),
          ),
        ),
      );
    }
    return checks.length + rescues.length;
  }

  private async rescue(rescues: { device: Device; host: string }[]): Promise<void> {
    const { rescueProvisioning, logger } = this.options;
    if (!rescueProvisioning) return;
    for (let i = 0; i < rescues.length; i += SIGNAL_CONCURRENCY) {
      await Promise.all(
        rescues.slice(i, i + SIGNAL_CONCURRENCY).map(({ device, host }) =>
          rescueProvisioning(device, host).catch((err: unknown) =>
            logger.warn('could not move a provisioning off a dead host', {
              device: device.metadata.name,
              host,
              error: errorMessage(err),
            }),
          ),
        ),
      );
    }
  }
}

/** Replaces `known` with `now`; returns the names in `now` that were not in `known`. */
function updateSilent(known: Set<string>, now: string[]): string[] {
  const added = now.filter((name) => !known.has(name));
  known.clear();
  for (const name of now) known.add(name);
  return added;
}

/** The production CheckRequest: a typed signal; a device without a lifecycle (still provisioning) is skipped. */
export function signalLifecycleCheck(client: Client): CheckRequest {
  return async (device, reason) => {
    try {
      await workflowHandle(client, deviceLifecycleWorkflow, lifecycleWorkflowId(device)).signal(
        checkHealthSignal,
        { reason },
      );
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  };
}
