/**
 * Placement of devices on device hosts (activities/host-placement.ts), pure: a device stays on
 * its host while that host may still come back, moves only once it is dead, new devices go to
 * the live host with the fewest, and a burst placed from the same counts spreads.
 */
import { describe, expect, it } from 'vitest';
import {
  chooseHost,
  chooseHostCountingLazily,
  type HostPlacementInput,
} from '../activities/host-placement.js';
import type { HostRecord } from '../store/host-registry.js';

const NOW = 1_000_000;
const host = (id: string, silentMs: number): HostRecord => ({
  id,
  lastSeen: NOW - silentMs,
  pid: 1,
  devices: 0,
  restartedAt: 0,
});
const place = (input: Partial<HostPlacementInput>) =>
  chooseHost({ device: 'd', hosts: [], owned: {}, now: NOW, staleMs: 10_000, graceMs: 30_000, ...input });

describe('host placement', () => {
  it('puts a new device on the live host with the fewest devices', () => {
    const hosts = [host('a', 0), host('b', 1000), host('c', 0)];
    expect(place({ hosts, owned: { a: 5, b: 2, c: 3 } })).toEqual({ host: 'b', moved: false });
  });

  it('never places on a host that stopped beating, even an empty one', () => {
    const hosts = [host('a', 0), host('b', 15_000)];
    expect(place({ hosts, owned: { a: 9 } })).toEqual({ host: 'a', moved: false });
  });

  it('keeps a device on its host within the grace period (a restart), moves it after', () => {
    const hosts = [host('a', 20_000), host('b', 0)];
    expect(place({ hosts, current: 'a', owned: { a: 1 } })).toEqual({ host: 'a', moved: false });
    const dead = [host('a', 31_000), host('b', 0)];
    expect(place({ hosts: dead, current: 'a', owned: { a: 1 } })).toEqual({ host: 'b', moved: true });
  });

  it('puts a device without a live host of its own on the preferred host (where its provisioning runs) while that is live', () => {
    const hosts = [host('a', 0), host('b', 0)];
    expect(place({ hosts, owned: { a: 9, b: 0 }, preferred: 'a' })).toEqual({ host: 'a', moved: false });
    // Its own host within the grace period wins over the preferred one.
    expect(place({ hosts, owned: { a: 9, b: 0 }, current: 'b', preferred: 'a' })).toEqual({
      host: 'b',
      moved: false,
    });
    // A dead own host: the preferred one, as a move.
    const dead = [host('a', 0), host('b', 31_000)];
    expect(place({ hosts: dead, current: 'b', preferred: 'a' })).toEqual({ host: 'a', moved: true });
    // A preferred host that stopped beating is not preferred.
    const stale = [host('a', 15_000), host('b', 0)];
    expect(place({ hosts: stale, owned: { a: 0, b: 9 }, preferred: 'a' })).toEqual({
      host: 'b',
      moved: false,
    });
  });

  it('never places on a host silent past the grace period, also a grace period shorter than staleness', () => {
    // Dead after 8 s, though heard from within staleMs (10 s), and the emptier host: not chosen.
    const hosts = [host('a', 9000), host('b', 0)];
    const input = { hosts, owned: { a: 1, b: 40 }, graceMs: 8000 };
    expect(place({ ...input, current: 'a' })).toEqual({ host: 'b', moved: true });
    expect(place(input)).toEqual({ host: 'b', moved: false });
  });

  it('moves a device whose host never registered', () => {
    expect(place({ hosts: [host('b', 0)], current: 'gone' })).toEqual({ host: 'b', moved: true });
  });

  it('explains why when no host is live', () => {
    expect(place({ hosts: [] })).toEqual({ reason: 'no device host is live (none has registered)' });
    expect(place({ hosts: [host('a', 40_000)] })).toEqual({
      reason: 'no device host is live: a (last seen 40 s ago)',
    });
  });

  it('spreads a burst placed from the same counts over the hosts', () => {
    const hosts = [host('a', 0), host('b', 0)];
    const chosen = Array.from({ length: 40 }, (_, i) => place({ device: `dev-${i}`, hosts }));
    const onA = chosen.filter((c) => 'host' in c && c.host === 'a').length;
    expect(onA).toBeGreaterThan(8);
    expect(onA).toBeLessThan(32);
    // The same device always lands on the same host from the same counts.
    expect(place({ device: 'dev-7', hosts })).toEqual(chosen[7]);
  });

  it('counts the devices per host only when the choice comes down to them', async () => {
    const counted: string[] = [];
    const lazily = (input: Partial<HostPlacementInput>, owned: Record<string, number> = {}) =>
      chooseHostCountingLazily(
        { device: 'd', hosts: [], now: NOW, staleMs: 10_000, graceMs: 30_000, ...input },
        async () => {
          counted.push(input.device ?? 'd');
          return owned;
        },
      );
    const one = [host('a', 0), host('dead', 40_000)];
    const two = [host('a', 0), host('b', 0)];
    // One live host, its own live host, a live preferred one, or none live: no count.
    expect(await lazily({ hosts: one })).toEqual({ host: 'a', moved: false });
    expect(await lazily({ hosts: one, current: 'dead' })).toEqual({ host: 'a', moved: true });
    expect(await lazily({ hosts: two, current: 'b' })).toEqual({ host: 'b', moved: false });
    expect(await lazily({ hosts: two, preferred: 'b' })).toEqual({ host: 'b', moved: false });
    expect(await lazily({ hosts: [host('dead', 40_000)] })).toHaveProperty('reason');
    expect(counted).toEqual([]);
    // Two live hosts to choose from: counted, and the same answer as from counts given.
    for (const owned of [
      { a: 5, b: 2 },
      { a: 0, b: 9 },
    ]) {
      expect(await lazily({ device: 'x', hosts: two }, owned)).toEqual(
        place({ device: 'x', hosts: two, owned }),
      );
    }
    expect(counted).toEqual(['x', 'x']);
  });
});
