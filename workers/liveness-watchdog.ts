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
 * signal only asks for a check. A signal or rescue that fails is tried again at each next look
 * while its gateway or host stays silent. A device's own session breaking is the gateway's to report
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
  /** Tasks whose signal or rescue failed, by taskKey: tried again while still due. */
  private readonly failed = new Map<string, WatchdogTask>();
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
    const retries = await this.stillDue();
    if (newGateways.length === 0 && newHosts.length === 0 && retries.length === 0) return 0;

    const tasks: WatchdogTask[] = [];
    if (newGateways.length > 0 || newHosts.length > 0) {
      for (const d of await store.list('Device')) tasks.push(...tasksFor(d, newGateways, newHosts));
      this.options.logger.warn('gateways or device hosts went silent; asking their devices for a check', {
        gateways: newGateways,
        hosts: newHosts,
        devices: tasks.filter((t) => t.kind === 'check').length,
        provisioning: tasks.filter((t) => t.kind === 'rescue').length,
      });
    }
    // What failed before and is still due goes again (a task for the same device now replaces it).
    const fresh = new Set(tasks.map(taskKey));
    tasks.push(...retries.filter((t) => !fresh.has(taskKey(t))));
    this.failed.clear();
    // Rescues first: a run waiting on a dead host's queue has no other way out.
    await this.runAll(tasks.filter((t) => t.kind === 'rescue'));
    await this.runAll(tasks.filter((t) => t.kind === 'check'));
    return tasks.length;
  }

  /**
   * The tasks that failed last time (Temporal unavailable for a moment, a timeout) whose gateway
   * or host is still silent: a silence is signalled once, so a lost signal would otherwise leave a
   * run waiting for ever on a dead host's queue, or a lifecycle to its slow safety net.
   */
  private async stillDue(): Promise<WatchdogTask[]> {
    const pending = [...this.failed.values()].filter((task) =>
      task.gateway !== undefined ? this.silentGateways.has(task.gateway) : this.silentHosts.has(task.host!),
    );
    if (!pending.some((task) => task.kind === 'rescue')) return pending;
    // The devices as they are now (one read, however many rescues wait): one that left
    // provisioning, or was deleted, needs no rescue.
    const devices = new Map((await this.options.store.list('Device')).map((d) => [d.metadata.name, d]));
    return pending.flatMap((task) => {
      if (task.kind !== 'rescue') return [task];
      const device = devices.get(task.device.metadata.name);
      return device && PROVISIONING.has(device.status.phase) ? [{ ...task, device }] : [];
    });
  }

  private async runAll(tasks: WatchdogTask[]): Promise<void> {
    const { rescueProvisioning, requestCheck, logger } = this.options;
    for (let i = 0; i < tasks.length; i += SIGNAL_CONCURRENCY) {
      await Promise.all(
        tasks.slice(i, i + SIGNAL_CONCURRENCY).map(async (task) => {
          const name = task.device.metadata.name;
          try {
            if (task.kind === 'check') await requestCheck(name, task.reason);
            else if (rescueProvisioning) await rescueProvisioning(task.device, task.host!);
          } catch (err) {
            this.failed.set(taskKey(task), task);
            logger.warn(
              task.kind === 'check'
                ? 'could not ask a lifecycle for a check; trying again at the next look'
                : 'could not move a provisioning off a dead host; trying again at the next look',
              { device: name, host: task.host, gateway: task.gateway, error: errorMessage(err) },
            );
          }
        }),
      );
    }
  }
}

/**
 * One thing the watchdog does for one device: ask its lifecycle for a check (its gateway or host
 * went silent), or move its provisioning off a dead host. `gateway`/`host`: the silent one it is
 * for — the task is due as long as that one stays silent.
 */
interface WatchdogTask {
  kind: 'check' | 'rescue';
  device: Device;
  reason: string;
  gateway?: string;
  host?: string;
}

const taskKey = (task: WatchdogTask) =>
  `${task.kind}:${task.device.metadata.name}:${task.gateway ?? ''}:${task.host ?? ''}`;

/** What the silence of `gateways` and `hosts` asks for `d` (nothing: an empty list). */
function tasksFor(d: Device, gateways: string[], hosts: string[]): WatchdogTask[] {
  const host = d.status.host;
  if (PROVISIONING.has(d.status.phase)) {
    // A run the API started on a host's queue records the host only once that host takes it
    // (beginProvisioning runs there): one whose host died first has none, and its run may
    // be on any host that died (the rescue looks at the run's queue and leaves the others).
    const suspects = host === undefined ? hosts : hosts.filter((h) => h === host);
    return suspects.map((dead) => ({
      kind: 'rescue',
      device: d,
      reason: `device host ${dead} is gone`,
      host: dead,
    }));
  }
  if (!WATCHED.has(d.status.phase)) return [];
  const gateway = d.status.gateway?.name;
  if (gateway !== undefined && gateways.includes(gateway))
    return [{ kind: 'check', device: d, reason: `gateway ${gateway} went silent`, gateway }];
  if (host !== undefined && hosts.includes(host))
    return [{ kind: 'check', device: d, reason: `device host ${host} is gone`, host }];
  return [];
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
