/**
 * Which task queue a device's provisioning starts on. On the queue of the device host it will
 * run on, the whole run — the store steps, placement, the host's own steps — runs in that host's
 * worker as local activities, and only the wait for the session goes to another queue (the
 * gateway's): the fewest round trips through Temporal per device (workflows/provision-device.ts,
 * BENCHMARKS.md "Provisioning at fleet scale"). The host is chosen by the rule placement uses
 * (activities/host-placement.ts); the run's own placement then prefers it, so both agree unless
 * the host died in between — then the run places the device elsewhere and runs the host's steps
 * there as a child workflow. With no live host yet the run starts on the orchestrator's queue
 * and places the device once one is.
 */
import { HOST_STALE_MS, ORCHESTRATOR_TASK_QUEUE, hostTaskQueue } from '../common/config.js';
import { chooseHost, chooseHostCountingLazily } from '../activities/host-placement.js';
import type { HostRegistry } from '../store/host-registry.js';
import type { ResourceStore } from '../store/resource-store.js';

export type ProvisioningQueue = (device: string) => Promise<string>;

/**
 * How long this process counts a device it sent to a host on top of the store's count. The store
 * counts a device on its host once its run has placed it (beginProvisioning), a moment to seconds
 * after the pick; a burst's picks (a batch starts 32 at once) all read counts from before any of
 * them was placed, and the host the stale counts favoured got nearly all of them: two empty hosts
 * took 88 and 12 of a batch of 100. A pick counted twice meanwhile (placed, and still recent)
 * weighs on every host a burst goes to alike.
 */
export const RECENT_PICK_MS = 5_000;

export function provisioningQueue(deps: {
  store: ResourceStore;
  hosts: HostRegistry;
  /** A host silent for longer than this is dead (config.host.graceMs). */
  hostGraceMs: number;
  now?: () => number;
}): ProvisioningQueue {
  const now = deps.now ?? Date.now;
  /** This process's picks of the last RECENT_PICK_MS, by device. */
  const recent = new Map<string, { host: string; at: number }>();
  const withRecentPicks = (owned: Record<string, number>, at: number) => {
    const counted = { ...owned };
    for (const [device, pick] of recent) {
      if (at - pick.at > RECENT_PICK_MS) recent.delete(device);
      else counted[pick.host] = (counted[pick.host] ?? 0) + 1;
    }
    return counted;
  };
  return async (device) => {
    const [hosts, current] = await Promise.all([deps.hosts.list(), deps.store.get('Device', device)]);
    const input = {
      device,
      hosts,
      current: current?.status.host,
      now: now(),
      staleMs: HOST_STALE_MS,
      graceMs: deps.hostGraceMs,
    };
    let counts: Record<string, number> | undefined;
    let placement = await chooseHostCountingLazily(
      input,
      async () => (counts = await deps.store.countBy('Device', 'host')),
    );
    // Chosen again with this process's recent picks, and the pick recorded, in one synchronous
    // step: between two awaits, the other picks of a burst would read the tally without it.
    if (counts) placement = chooseHost({ ...input, owned: withRecentPicks(counts, now()) });
    if (!('host' in placement)) return ORCHESTRATOR_TASK_QUEUE;
    recent.set(device, { host: placement.host, at: now() });
    return hostTaskQueue(placement.host);
  };
}

/** Every run on the orchestrator's queue (a front end without the host registry). */
export const onOrchestratorQueue: ProvisioningQueue = async () => ORCHESTRATOR_TASK_QUEUE;
