/**
 * Rollouts across a fleet of 10 real virtual devices, watched from outside while they happen:
 * a Rolling update with maxUnavailable=2 never has more than 2 devices between versions; a
 * canary paused for approval and then aborted, and a canary that fails by itself, roll back
 * and leave the other 9 devices untouched; failures past the threshold roll back, failures up
 * to it do not.
 *
 * Which version a device runs is read from what the device itself reports: its app state
 * (Device status.apps) and its app's log, where each version announces itself when it starts
 * (v1 blinky: "blinky: pin …"; v2 counter-c, the C app: "counter-c: started"). The v2 deploys
 * use counter-c's STARTUP_MS so each device spends a second between versions, long enough for
 * the sampler to see every switch.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Application, Device } from '../common/resources.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;
const APP = 'fleet-app';
const DEVICES = Array.from({ length: 10 }, (_, i) => `fleet-${String(i + 1).padStart(2, '0')}`);
const wasm = (name: string) => fs.readFileSync(path.join(DIST_DIR, `${name}.wasm`)).toString('base64');

/** The versions, as complete application bodies (PUT replaces the whole spec). */
const V1 = { wasm: '', env: { PERIOD_MS: '60000' } }; // blinky
const V2 = { wasm: '', env: { STARTUP_MS: '1000', PERIOD_MS: '60000' } }; // counter-c

beforeAll(async () => {
  // counter-c is C: without clang this throws "counter-c: not built: C apps need clang …".
  await buildApps({ only: ['blinky', 'faulty', 'counter-c'], log: () => {} });
  V1.wasm = wasm('blinky');
  V2.wasm = wasm('counter-c');
  platform = await startTestPlatform();
  for (const name of DEVICES) {
    const res = await platform.api('POST', '/api/v1/devices', { name, labels: { group: 'fleet' } });
    expect(res.status).toBe(202);
  }
  await waitFor(
    '10 devices Connected',
    async () => {
      const items = (await platform.api('GET', '/api/v1/devices?phase=Connected')).body.items as Device[];
      return items.length === DEVICES.length;
    },
    120_000,
  );
});
afterAll(async () => {
  await platform?.stop();
});

async function app(): Promise<Application> {
  return (await platform.api('GET', `/api/v1/applications/${APP}`)).body as Application;
}

async function settled(): Promise<Application> {
  return waitFor(
    `${APP} to settle`,
    async () => {
      const a = await app();
      return ['Running', 'PartiallyRunning', 'Failed', 'RolledBack'].includes(a.status.phase) ? a : undefined;
    },
    120_000,
  );
}

type Version = 'v1' | 'v2' | 'v3' | 'faulty';
const STARTS: Array<[RegExp, Version]> = [
  [/^blinky: pin 0, 30000 ms/, 'v1'],
  [/^counter-c: started$/, 'v2'],
  [/^blinky: pin 0, 100 ms/, 'v3'],
  [/^faulty: about to trap$/, 'faulty'],
];

/** Each device's app log read so far: the versions it started, in order, and a cursor. */
const seen = new Map<string, { after: number; starts: Version[] }>(
  DEVICES.map((d) => [d, { after: 0, starts: [] }]),
);

/** Reads the new lines of each device's app log; answers the versions started since. */
async function readStarts(): Promise<Map<string, Version[]>> {
  const fresh = new Map<string, Version[]>();
  await Promise.all(
    DEVICES.map(async (device) => {
      const s = seen.get(device)!;
      const res = await platform.api('GET', `/api/v1/devices/${device}/logs?app=${APP}&after=${s.after}`);
      const started: Version[] = [];
      for (const entry of res.body.items as Array<{ id: number; message: string }>) {
        s.after = entry.id;
        const version = STARTS.find(([re]) => re.test(entry.message))?.[1];
        if (version) started.push(version);
      }
      s.starts.push(...started);
      fresh.set(device, started);
    }),
  );
  return fresh;
}

const current = (device: string) => seen.get(device)!.starts.at(-1);

/**
 * One look at the fleet: a device runs a version when it reports the app Running and that
 * version's start line is the last it logged; anything else (Deploying, Stopped, Failed, or
 * Running before the new version's first line) is between versions.
 */
async function sample(): Promise<Map<string, Version | 'between'>> {
  const states = await Promise.all(
    DEVICES.map(async (device) => {
      const d = (await platform.api('GET', `/api/v1/devices/${device}`)).body as Device;
      return (d.status.apps[APP] as { state?: string } | undefined)?.state;
    }),
  );
  await readStarts();
  return new Map(
    DEVICES.map((device, i) => [
      device,
      states[i] === 'Running' ? (current(device) ?? 'between') : 'between',
    ]),
  );
}

async function put(version: object, strategy: object) {
  const res = await platform.api('PUT', `/api/v1/applications/${APP}`, {
    name: APP,
    target: { selector: { group: 'fleet' } },
    strategy,
    ...version,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}

describe('rolling out to a fleet of 10', () => {
  it('deploys v1 to all 10 at once', async () => {
    const res = await platform.api('POST', '/api/v1/applications', {
      name: APP,
      target: { selector: { group: 'fleet' } },
      ...V1,
    });
    expect(res.status).toBe(202);
    const a = await settled();
    expect(a.status.phase).toBe('Running');
    expect(a.status.counts).toMatchObject({ targeted: 10, running: 10, failed: 0 });
    await waitFor('every device logged v1', async () => {
      await readStarts();
      return DEVICES.every((d) => current(d) === 'v1');
    });
  });

  it('updates to v2 with maxUnavailable=2: never more than 2 devices between versions', async () => {
    await put(V2, { type: 'Rolling', maxUnavailable: 2, failureThreshold: 0 });
    const betweenCounts: number[] = [];
    const everBetween = new Set<string>();
    for (;;) {
      const fleet = await sample();
      const between = DEVICES.filter((d) => fleet.get(d) === 'between');
      between.forEach((d) => everBetween.add(d));
      betweenCounts.push(between.length);
      expect(between.length, `between versions at once: ${between.join(', ')}`).toBeLessThanOrEqual(2);
      // Every device not between runs v1 or v2, nothing else.
      for (const d of DEVICES) expect(['v1', 'v2', 'between']).toContain(fleet.get(d));
      if (DEVICES.every((d) => fleet.get(d) === 'v2')) break;
      expect(betweenCounts.length, 'the rollout did not finish').toBeLessThan(5000);
    }
    // The sampler saw the switches: each device was between versions at some sample, and
    // two at once (a wave of maxUnavailable) at least once.
    expect([...everBetween].sort()).toEqual(DEVICES);
    expect(Math.max(...betweenCounts)).toBe(2);
    const a = await settled();
    expect(a.status.phase).toBe('Running');
    expect(a.status.counts).toMatchObject({ targeted: 10, running: 10 });
    // Each device started v2 exactly once.
    for (const d of DEVICES) expect(seen.get(d)!.starts.filter((v) => v === 'v2')).toHaveLength(1);
  });

  it('a canary waiting for approval shows it; abort rolls the canary back and leaves the other 9 untouched', async () => {
    await put(
      { wasm: V1.wasm, env: { PERIOD_MS: '200' } }, // v3: blinky again, logging "100 ms per level"
      { type: 'Canary', canary: 1, pauseAfterCanary: true, failureThreshold: 0 },
    );
    const waiting = await waitFor(
      'canary waiting for promote',
      async () => {
        const a = await app();
        return a.status.awaitingPromotion ? a : undefined;
      },
      60_000,
    );
    expect(waiting.status.phase).toBe('Deploying');
    const started = await readStarts();
    const canaries = DEVICES.filter((d) => started.get(d)!.includes('v3'));
    expect(canaries).toHaveLength(1);
    const canary = canaries[0]!;
    expect(waiting.status.devices[canary]?.state).toBe('Running');
    // The 9 others say what is true: they run v2 (they showed Pending), not reached by v3 yet.
    for (const d of DEVICES.filter((x) => x !== canary)) {
      expect(waiting.status.devices[d]).toMatchObject({ state: 'Running', awaitingRollout: true });
    }
    expect(waiting.status.counts).toMatchObject({ targeted: 10, running: 1, pending: 9 });

    expect((await platform.api('POST', `/api/v1/applications/${APP}/abort`)).status).toBe(202);
    const a = await settled();
    expect(a.status.phase).toBe('RolledBack');
    expect(a.status.awaitingPromotion).toBeUndefined();
    expect(a.status.message).toMatch(/rolled back to the previous version .*aborted by an operator/);
    // The status says what the devices run: the 9 untouched ones kept v2 and are not left Pending.
    expect(DEVICES.map((d) => a.status.devices[d]?.state)).toEqual(DEVICES.map(() => 'Running'));
    expect(DEVICES.filter((d) => a.status.devices[d]?.awaitingRollout)).toEqual([]);
    expect(a.status.counts.pending).toBe(0);
    // The canary runs v2 again; the others never heard of v3 and kept running v2.
    await waitFor(`${canary} back on v2`, async () => (await readStarts(), current(canary) === 'v2'));
    for (const d of DEVICES) {
      expect(seen.get(d)!.starts.filter((v) => v === 'v3')).toHaveLength(d === canary ? 1 : 0);
      expect(seen.get(d)!.starts.filter((v) => v === 'v2')).toHaveLength(d === canary ? 2 : 1);
    }
    const fleet = await sample();
    expect(DEVICES.filter((d) => fleet.get(d) === 'v2')).toEqual(DEVICES);
  });

  it('a canary that fails rolls back by itself; the other 9 never see the bad version', async () => {
    await put(
      { wasm: wasm('faulty'), entry: 'trap', env: {} },
      { type: 'Canary', canary: 1, failureThreshold: 0 },
    );
    const a = await settled();
    expect(a.status.phase).toBe('RolledBack');
    expect(a.status.message).toMatch(/1 of 10 devices failed \(threshold 0\)/);
    await readStarts();
    const tried = DEVICES.filter((d) => seen.get(d)!.starts.includes('faulty'));
    expect(tried).toHaveLength(1);
    await waitFor('the canary back on v2', async () => (await readStarts(), current(tried[0]!) === 'v2'));
    const fleet = await sample();
    expect(DEVICES.filter((d) => fleet.get(d) === 'v2')).toEqual(DEVICES);
  });

  it('tolerates failures up to the threshold and rolls back once they pass it', async () => {
    const faultyStarts = (d: string) => seen.get(d)!.starts.filter((v) => v === 'faulty').length;
    await readStarts();
    const before = new Map(DEVICES.map((d) => [d, faultyStarts(d)]));
    const startsBefore = new Map(DEVICES.map((d) => [d, seen.get(d)!.starts.length]));
    // Waves of 2: the first wave's 2 failures are within the threshold of 2, the second's are not.
    await put(
      { wasm: wasm('faulty'), entry: 'trap', env: {} },
      { type: 'Rolling', maxUnavailable: 2, failureThreshold: 2 },
    );
    const a = await settled();
    expect(a.status.phase).toBe('RolledBack');
    expect(a.status.message).toMatch(
      /rolled back to the previous version .*4 of 10 devices failed \(threshold 2\)/,
    );
    // The two waves' devices are back on v2, with v2's own entry and env; the other 6 were never contacted.
    await waitFor('every device back on v2', async () => {
      const fleet = await sample();
      return DEVICES.every((d) => fleet.get(d) === 'v2');
    });
    const hit = DEVICES.filter((d) => faultyStarts(d) > before.get(d)!);
    expect(hit).toHaveLength(4);
    for (const d of hit) expect(seen.get(d)!.starts.slice(startsBefore.get(d))).toEqual(['faulty', 'v2']);
    // The other 6 started nothing during this rollout.
    for (const d of DEVICES.filter((x) => !hit.includes(x))) {
      expect(seen.get(d)!.starts.length).toBe(startsBefore.get(d));
    }
  });
});
