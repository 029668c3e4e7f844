/** Slots: at most `size` holders at once, the others served first come, first served. */
import { describe, expect, it } from 'vitest';
import { Slots } from '../common/slots.js';

describe('Slots', () => {
  it('hands slots out first come, first served; giving one back twice frees it once', async () => {
    const slots = new Slots(2);
    const order: string[] = [];
    const a = await slots.acquire();
    const b = await slots.acquire();
    const waiting = ['c', 'd'].map((name) => slots.acquire().then((release) => (order.push(name), release)));
    expect(slots.queued).toBe(2);
    a();
    a();
    const c = await waiting[0]!;
    expect(order).toEqual(['c']);
    expect(slots.queued).toBe(1);
    b();
    await waiting[1];
    expect(order).toEqual(['c', 'd']);
    c();
    expect(() => new Slots(0)).toThrow(RangeError);
  });
});
