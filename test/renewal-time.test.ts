/**
 * Certificate renewals spread over the renewal window (activities/renewal-time.ts): a fleet
 * provisioned in one minute does not renew in one minute.
 */
import { describe, expect, it } from 'vitest';
import { renewalDueAt } from '../activities/renewal-time.js';

const DAY_MS = 86_400_000;

describe('renewalDueAt', () => {
  it('spreads a thousand devices issued at once over the first third of the renewal window', () => {
    const notAfter = Date.parse('2027-12-03T10:00:00Z');
    const renewBeforeMs = 30 * DAY_MS;
    const opens = notAfter - renewBeforeMs;
    const due = Array.from({ length: 1000 }, (_, i) => renewalDueAt(`sim-${i}`, notAfter, renewBeforeMs));
    for (const at of due) {
      expect(at).toBeGreaterThanOrEqual(opens);
      expect(at).toBeLessThan(opens + 10 * DAY_MS);
    }
    // Spread, not bunched: every one of the ten days gets some, none more than twice its share.
    const perDay = new Map<number, number>();
    for (const at of due) {
      const day = Math.floor((at - opens) / DAY_MS);
      perDay.set(day, (perDay.get(day) ?? 0) + 1);
    }
    expect([...perDay.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Math.max(...perDay.values())).toBeLessThan(200);
  });

  it('gives a device the same time at every check, and a renewal window of 0 renews at expiry', () => {
    const notAfter = Date.now() + DAY_MS;
    expect(renewalDueAt('dev-1', notAfter, 30 * DAY_MS)).toBe(renewalDueAt('dev-1', notAfter, 30 * DAY_MS));
    expect(renewalDueAt('dev-1', notAfter, 0)).toBe(notAfter);
  });
});
