import { describe, expect, it } from 'vitest';
import { coalescedHeartbeatWrites } from '../gateway/heartbeat-writes.js';

/** Pure logic: which heartbeats the gateway writes to the store (gateway/heartbeat-writes.ts). */
describe('coalesced heartbeat writes', () => {
  const setup = (minIntervalMs: number) => {
    let clock = 1_000_000;
    const written: string[] = [];
    const writes = coalescedHeartbeatWrites({
      minIntervalMs,
      now: () => clock,
      write: (device) => void written.push(device),
    });
    return { writes, written, advance: (ms: number) => (clock += ms) };
  };

  it('writes a device’s first heartbeat, then at most one per interval', () => {
    const { writes, written, advance } = setup(15_000);
    for (let i = 0; i < 7; i++) {
      writes.heartbeat('a', new Date());
      writes.heartbeat('b', new Date());
      advance(5000);
    }
    // Heartbeats at 0, 5, …, 30 s: written at 0, 15 and 30 s for each device.
    expect(written).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
  });

  it('writes every heartbeat with an interval of 0 (the behaviour before coalescing)', () => {
    const { writes, written } = setup(0);
    for (let i = 0; i < 5; i++) writes.heartbeat('a', new Date());
    expect(written).toHaveLength(5);
  });

  it('forgets a device whose session ended, and writes its next heartbeat at once', () => {
    const { writes, written, advance } = setup(15_000);
    writes.heartbeat('a', new Date());
    writes.heartbeat('b', new Date());
    expect(writes.tracked).toBe(2);
    writes.forget('a');
    expect(writes.tracked).toBe(1);
    advance(1000);
    writes.heartbeat('a', new Date());
    writes.heartbeat('b', new Date());
    expect(written).toEqual(['a', 'b', 'a']);
  });

  it('passes the heartbeat time it was given to the write', () => {
    const at = new Date('2026-12-02T12:00:00Z');
    const seen: Date[] = [];
    coalescedHeartbeatWrites({ minIntervalMs: 10, write: (_, t) => void seen.push(t) }).heartbeat('a', at);
    expect(seen).toEqual([at]);
  });

  it('skips a device’s heartbeats while its previous write is still under way', async () => {
    let clock = 0;
    let finish: () => void = () => {};
    const written: string[] = [];
    const writes = coalescedHeartbeatWrites({
      minIntervalMs: 0,
      now: () => clock,
      write: (device) => {
        written.push(device);
        return new Promise<void>((resolve) => (finish = resolve));
      },
    });
    writes.heartbeat('a', new Date());
    clock += 5000;
    writes.heartbeat('a', new Date()); // the first write has not finished: skipped
    expect(written).toEqual(['a']);
    finish();
    await new Promise((r) => setImmediate(r));
    writes.heartbeat('a', new Date());
    expect(written).toEqual(['a', 'a']);
  });
});
