/**
 * The controllers' per-name work queue (controller/work-queue.ts), on fake timers: the
 * integration suite (test/kubernetes.test.ts) shows the controllers work; this pins down the
 * queue rules they rely on, which a real cluster cannot force on cue.
 */
import { ApiException } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../common/logger.js';
import { WorkQueue } from '../controller/work-queue.js';

const warnings: string[] = [];
const logger: Logger = {
  info: () => {},
  debug: () => {},
  error: () => {},
  warn: (m) => warnings.push(m),
};

beforeEach(() => {
  vi.useFakeTimers();
  warnings.length = 0;
});
afterEach(() => {
  vi.useRealTimers();
});

describe('controller work queue', () => {
  it('keeps one delayed look per name however often it is asked for', async () => {
    const calls: string[] = [];
    const queue = new WorkQueue('thing', async (name) => void calls.push(name), logger);
    for (let i = 0; i < 5; i++) queue.enqueue('a', 1000 + i * 100);
    queue.enqueue('b', 1000);
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls.sort()).toEqual(['a', 'b']);
    // Once it fired, a new delayed look can be scheduled.
    queue.enqueue('a', 1000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls.filter((c) => c === 'a')).toHaveLength(2);
  });

  it('runs one reconcile per name at a time, and once more for a change that came meanwhile', async () => {
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const queue = new WorkQueue(
      'thing',
      async () => {
        calls++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 100));
        running--;
      },
      logger,
    );
    queue.enqueue('a');
    queue.enqueue('a'); // during the first: folded into one more run
    queue.enqueue('a');
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it('retries a failed reconcile: at once after a 409 Conflict (quietly), after 2 s otherwise', async () => {
    const outcomes: (Error | undefined)[] = [
      new ApiException(409, 'conflict', {}, {}),
      new Error('API server down'),
      undefined,
    ];
    let calls = 0;
    const queue = new WorkQueue(
      'thing',
      async () => {
        const outcome = outcomes[calls++];
        if (outcome) throw outcome;
      },
      logger,
    );
    queue.enqueue('a');
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toBe(2); // the conflict was retried within 50 ms
    expect(warnings).toEqual(['reconcile failed; retrying']); // only the real failure warns
    await vi.advanceTimersByTimeAsync(1500);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(600);
    expect(calls).toBe(3);
  });

  it('does nothing once stopped, not even what was scheduled', async () => {
    let calls = 0;
    const queue = new WorkQueue('thing', async () => void calls++, logger);
    queue.enqueue('a', 1000);
    queue.stop();
    queue.enqueue('b');
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toBe(0);
  });
});
