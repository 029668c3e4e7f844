/**
 * Refuses to start a gateway under a name another live gateway registers. A gateway's name is
 * its Gateway resource and its task queue (`wasmbed-gateway-<name>`); with one shared database,
 * a second machine started with the default WASMBED_GATEWAY_NAME (gateway-0) overwrote the first
 * one's record every 2 s — the endpoint devices were sent to flipped between the two machines,
 * devices dialled the other machine's gateway, and session work went to whichever of the two
 * polled the queue first — while `wasmbed status` showed one healthy gateway.
 *
 * The twin is recognised by its writes: a live gateway moves `lastSeen` at every report. A record
 * that did not move for two report intervals belongs to a gateway that is gone (this one's earlier
 * self after a kill -9, say), and its name is free; one that moves is in use.
 */
import { WasmbedError } from '../common/errors.js';
import type { ResourceStore } from '../store/resource-store.js';

export interface NameCheckOptions {
  /** How often a gateway reports (its lastSeen moves at least this often while it lives). */
  reportIntervalMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Slack for a report that is late under load. */
const REPORT_SLACK_MS = 1000;

export async function assertGatewayNameFree(
  store: Pick<ResourceStore, 'get'>,
  name: string,
  options: NameCheckOptions,
): Promise<void> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const before = await store.get('Gateway', name);
  if (!before || before.status.phase !== 'Ready' || !before.status.lastSeen) return;
  const seenAt = Date.parse(before.status.lastSeen);
  const silentUntil = seenAt + 2 * options.reportIntervalMs + REPORT_SLACK_MS;
  if (now() >= silentUntil) return;
  await sleep(silentUntil - now());
  const after = await store.get('Gateway', name);
  if (!after || after.status.phase !== 'Ready' || after.status.lastSeen === before.status.lastSeen) return;
  throw new WasmbedError(
    'GatewayNameInUse',
    `gateway name "${name}" is in use: a live gateway (endpoint ${after.spec.endpoint}, health ` +
      `${after.status.healthEndpoint ?? 'unknown'}) registers it; give every gateway its own ` +
      'WASMBED_GATEWAY_NAME (on each machine that shares the database)',
  );
}
