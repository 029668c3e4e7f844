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
import { chooseHostCountingLazily } from '../activities/host-placement.js';
import type { HostRegistry } from '../store/host-registry.js';
import type { ResourceStore } from '../store/resource-store.js';

export type ProvisioningQueue = (device: string) => Promise<string>;

export function provisioningQueue(deps: {
  store: ResourceStore;
  hosts: HostRegistry;
  /** A host silent for longer than this is dead (config.host.graceMs). */
  hostGraceMs: number;
}): ProvisioningQueue {
  return async (device) => {
    const [hosts, current] = await Promise.all([deps.hosts.list(), deps.store.get('Device', device)]);
    const placement = await chooseHostCountingLazily(
      {
        device,
        hosts,
        current: current?.status.host,
        now: Date.now(),
        staleMs: HOST_STALE_MS,
        graceMs: deps.hostGraceMs,
      },
      () => deps.store.countBy('Device', 'host'),
    );
    return 'host' in placement ? hostTaskQueue(placement.host) : ORCHESTRATOR_TASK_QUEUE;
  };
}

/** Every run on the orchestrator's queue (a front end without the host registry). */
export const onOrchestratorQueue: ProvisioningQueue = async () => ORCHESTRATOR_TASK_QUEUE;
