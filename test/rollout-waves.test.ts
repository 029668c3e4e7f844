/** How a rollout splits its targets: waves by strategy, and batches per gateway within a wave. */
import { describe, expect, it } from 'vitest';
import type { ApplicationSpec } from '../common/resources.js';
import { rolloutBatches, rolloutWaves } from '../workflows/rollout-waves.js';

const target = (device: string, taskQueue: string | null) => ({ device, taskQueue });

describe('rolloutBatches', () => {
  it('groups a wave by gateway, in order, at most `size` devices per batch', () => {
    const wave = [
      target('a1', 'gw-a'),
      target('b1', 'gw-b'),
      target('a2', 'gw-a'),
      target('a3', 'gw-a'),
      target('b2', 'gw-b'),
    ];
    expect(rolloutBatches(wave, 2).map((b) => b.map((t) => t.device))).toEqual([
      ['a1', 'a2'],
      ['b1', 'b2'],
      ['a3'],
    ]);
  });

  it('never mixes gateways in a batch, and a wave of 1,000 makes 10 batches by default', () => {
    const wave = Array.from({ length: 1000 }, (_, i) => target(`d${i}`, i % 2 ? 'gw-a' : 'gw-b'));
    const batches = rolloutBatches(wave);
    expect(batches).toHaveLength(10);
    for (const batch of batches) {
      expect(batch).toHaveLength(100);
      expect(new Set(batch.map((t) => t.taskQueue)).size).toBe(1);
    }
    expect(
      batches
        .flat()
        .map((t) => t.device)
        .sort(),
    ).toEqual(wave.map((t) => t.device).sort());
  });

  it('makes no batch of an empty wave', () => {
    expect(rolloutBatches([])).toEqual([]);
  });
});

describe('rolloutWaves', () => {
  const strategy: Omit<ApplicationSpec['strategy'], 'type'> = {
    maxUnavailable: 2,
    canary: 1,
    pauseAfterCanary: false,
    failureThreshold: 0,
  };
  it('splits Canary into the canary and waves of maxUnavailable', () => {
    expect(rolloutWaves([1, 2, 3, 4, 5, 6], { ...strategy, type: 'Canary' })).toEqual([
      [1],
      [2, 3],
      [4, 5],
      [6],
    ]);
  });
  it('sizes waves by a percentage of all the targets: rounded down for maxUnavailable, up for the canary', () => {
    const devices = Array.from({ length: 10 }, (_, i) => i);
    const sizes = (s: Partial<typeof strategy> & { type: 'Rolling' | 'Canary' }) =>
      rolloutWaves(devices, { ...strategy, ...s }).map((w) => w.length);
    expect(sizes({ type: 'Rolling', maxUnavailable: '25%' })).toEqual([2, 2, 2, 2, 2]); // 2.5 → 2
    expect(sizes({ type: 'Rolling', maxUnavailable: '100%' })).toEqual([10]);
    expect(sizes({ type: 'Rolling', maxUnavailable: '5%' })).toEqual(Array(10).fill(1)); // never 0
    expect(sizes({ type: 'Canary', canary: '15%', maxUnavailable: '50%' })).toEqual([2, 5, 3]); // 1.5 → 2
    expect(sizes({ type: 'Canary', canary: '0%', maxUnavailable: 4 })).toEqual([1, 4, 4, 1]);
    // A fleet's rollout at the default: four waves whatever its size.
    const fleet = Array.from({ length: 1000 }, (_, i) => i);
    expect(rolloutWaves(fleet, { ...strategy, type: 'Rolling', maxUnavailable: '25%' })).toHaveLength(4);
  });
  it('keeps AllAtOnce in one wave (batches split it further)', () => {
    expect(rolloutWaves([1, 2, 3], { ...strategy, type: 'AllAtOnce' })).toEqual([[1, 2, 3]]);
  });
});
