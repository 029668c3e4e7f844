/**
 * Which device host a device should run on. Pure, so the rule is tested without Temporal.
 *
 * A device stays with its host while that host is alive or may still come back (heard from
 * within the grace period): a host restarted within it resumes its own devices, and moving
 * them meanwhile would start a second copy. Otherwise the device goes to the live host with the
 * fewest devices; among equals the device's name picks (rendezvous hashing), so a burst of new
 * devices placed from the same, not yet updated counts still spreads over the hosts.
 */
import { createHash } from 'node:crypto';
import type { HostRecord } from '../store/host-registry.js';

export interface HostPlacementInput {
  device: string;
  hosts: HostRecord[];
  /** Devices owned by each host (status.host), by host id. */
  owned: Record<string, number>;
  /** The host the device is on now, if any. */
  current?: string;
  now: number;
  /** A host heard from within this long takes new devices. */
  staleMs: number;
  /** A host silent for longer than this is dead: its devices move. */
  graceMs: number;
  /**
   * Where a device without a live host of its own goes if that host is live: the host whose task
   * queue its provisioning runs on (services/provisioning-queue.ts picked it by this same rule a
   * moment before), so the run's host steps stay local to it.
   */
  preferred?: string;
}

export type HostPlacement = { host: string; moved: boolean } | { reason: string };

/**
 * A host by how long it has been silent: `live` takes new devices; `silent` takes none but keeps
 * its own, which it resumes if it comes back; `dead` (past the grace period) has its devices moved.
 * A host past the grace period is dead even when that is shorter than staleMs, as tests and a
 * short WASMBED_HOST_GRACE_MS make it: else a dead host with the fewest devices got back the very
 * devices that were moving off it — a provisioning run moved off it went back to its queue.
 * (The health view, web/health.ts, shows hosts by the same rule.)
 */
export function hostState(
  host: HostRecord,
  now: number,
  limits: { staleMs: number; graceMs: number },
): 'live' | 'silent' | 'dead' {
  const age = now - host.lastSeen;
  if (age >= limits.graceMs) return 'dead';
  return age < limits.staleMs ? 'live' : 'silent';
}

export function chooseHost(input: HostPlacementInput): HostPlacement {
  const choice = withoutCounts(input);
  return 'candidates' in choice ? leastLoaded(input, choice.candidates, input.owned) : choice;
}

/**
 * chooseHost, counting the devices of each host only when the choice comes down to them (two or
 * more live hosts, and neither a live host of its own nor a live preferred one): the count reads
 * the whole fleet, and placing each of a burst of devices on the one host of a machine read it
 * twice (the API's queue pick and the run's placement) — O(fleet) per device.
 */
export async function chooseHostCountingLazily(
  input: Omit<HostPlacementInput, 'owned'>,
  countOwned: () => Promise<Record<string, number>>,
): Promise<HostPlacement> {
  const choice = withoutCounts(input);
  return 'candidates' in choice ? leastLoaded(input, choice.candidates, await countOwned()) : choice;
}

/** The placement when no count is needed for it, else the live hosts to choose from by load. */
function withoutCounts(
  input: Omit<HostPlacementInput, 'owned'>,
): HostPlacement | { candidates: HostRecord[] } {
  const state = (h: HostRecord) => hostState(h, input.now, input);
  if (input.current) {
    const current = input.hosts.find((h) => h.id === input.current);
    if (current && state(current) !== 'dead') return { host: current.id, moved: false };
  }
  const live = input.hosts.filter((h) => state(h) === 'live');
  if (live.length === 0) {
    const known = input.hosts.map(
      (h) => `${h.id} (last seen ${Math.round((input.now - h.lastSeen) / 1000)} s ago)`,
    );
    return {
      reason: `no device host is live${known.length > 0 ? `: ${known.join(', ')}` : ' (none has registered)'}`,
    };
  }
  const preferred = live.find((h) => h.id === input.preferred);
  if (preferred) return placedOn(input, preferred.id);
  if (live.length === 1) return placedOn(input, live[0]!.id);
  return { candidates: live };
}

function leastLoaded(
  input: Omit<HostPlacementInput, 'owned'>,
  live: HostRecord[],
  owned: Record<string, number>,
): HostPlacement {
  const load = (h: HostRecord) => owned[h.id] ?? 0;
  const [chosen] = live.sort(
    (a, b) =>
      load(a) - load(b) ||
      rendezvous(input.device, a.id).localeCompare(rendezvous(input.device, b.id)) ||
      a.id.localeCompare(b.id),
  );
  return placedOn(input, chosen!.id);
}

function placedOn(input: Pick<HostPlacementInput, 'current'>, host: string): HostPlacement {
  return { host, moved: input.current !== undefined && host !== input.current };
}

function rendezvous(device: string, host: string): string {
  return createHash('sha256').update(`${device}\0${host}`).digest('hex');
}
