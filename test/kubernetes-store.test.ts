/**
 * The Kubernetes backend of ResourceStore against a real etcd + kube-apiserver (the CRDs of
 * k8s/crds/ applied): the contract every backend owes (test/support/store-contract.ts), and what
 * is particular to this one: create, get, list, listPage, countBy, createMany,
 * updateStatus with conflicts, delete with the finalizer, watch scopes), reads served from the
 * informer cache, a caller's own writes visible to its next read, and no store call blocking the
 * event loop. Two store instances stand for two processes: each has its own informers.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError, NotFoundError } from '../common/errors.js';
import type { DeviceSpec, DeviceStatus } from '../common/resources.js';
import { KubeCache } from '../store/kubernetes-cache.js';
import { defaultStatus } from '../store/kubernetes-objects.js';
import { KubernetesResourceStore } from '../store/kubernetes-resource-store.js';
import type { StoreEvent } from '../store/resource-store.js';
import { installCrds, startKubeCluster, type KubeCluster } from './support/kube-cluster.js';
import { resourceStoreContract } from './support/store-contract.js';
import { watchLoopGaps } from './support/loop-gaps.js';
import { waitFor } from './support/wait.js';

let cluster: KubeCluster;
const stores: KubernetesResourceStore[] = [];
const caches: KubeCache[] = [];

const spec = (mcuType: DeviceSpec['mcuType'] = 'Stm32F746gDisco'): DeviceSpec => ({
  mcuType,
  runtime: 'virtual',
});
const pending = (): DeviceStatus => defaultStatus('Device');

function openStore(options: { cache?: KubeCache } = {}): KubernetesResourceStore {
  const store = new KubernetesResourceStore({
    namespace: 'default',
    kubeconfig: cluster.kubeconfig,
    ...options,
  });
  stores.push(store);
  return store;
}

/** A cache that reads through the relay the test can cut, for a store whose writes go direct. */
function cacheBehindRelay(): KubeCache {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.proxyKubeconfig);
  const cache = new KubeCache({ kc, namespace: 'default' });
  caches.push(cache);
  return cache;
}

async function exists(kind: string, name: string): Promise<boolean> {
  const r = await cluster.kubectl(['get', kind, name, '-o', 'name']);
  if (r.code === 0) return true;
  if (/NotFound|not found/.test(r.stderr)) return false;
  throw new Error(r.stderr);
}

beforeAll(async () => {
  cluster = await startKubeCluster();
  await installCrds(cluster);
}, 600_000);

afterAll(async () => {
  for (const store of stores) await store.close();
  for (const cache of caches) await cache.stop();
  await cluster?.stop();
}, 60_000);

describe('Kubernetes ResourceStore', () => {
  it('creates, gets, lists, pages and counts; a taken name is AlreadyExistsError', async () => {
    const store = openStore();
    for (const [name, mcu] of [
      ['c-b', 'Stm32F746gDisco'],
      ['c-a', 'MimxRt1064Evk'],
      ['c-c', 'Stm32F746gDisco'],
    ] as const) {
      const created = await store.create('Device', name, spec(mcu), pending(), { fleet: 'c' });
      expect(created.metadata).toMatchObject({ name, labels: { fleet: 'c' } });
      expect(created.status.phase).toBe('Pending');
    }
    await expect(store.create('Device', 'c-a', spec(), pending())).rejects.toBeInstanceOf(AlreadyExistsError);

    expect((await store.get('Device', 'c-a'))?.spec.mcuType).toBe('MimxRt1064Evk');
    expect(await store.get('Device', 'c-missing')).toBeUndefined();
    const names = (await store.list('Device')).map((d) => d.metadata.name);
    expect(names.filter((n) => n.startsWith('c-'))).toEqual(['c-a', 'c-b', 'c-c']);

    const first = await store.listPage('Device', { labelSelector: 'fleet=c', limit: 2 });
    expect(first.items.map((d) => d.metadata.name)).toEqual(['c-a', 'c-b']);
    expect(first.metadata.remainingItemCount).toBe(1);
    const second = await store.listPage('Device', {
      labelSelector: 'fleet=c',
      limit: 2,
      continue: first.metadata.continue,
    });
    expect(second.items.map((d) => d.metadata.name)).toEqual(['c-c']);
    expect(await store.countBy('Device', 'mcuType', { labelSelector: 'fleet=c' })).toEqual({
      Stm32F746gDisco: 2,
      MimxRt1064Evk: 1,
    });

    // What a caller gets is its own copy: changing it changes nothing in the store.
    const copy = (await store.get('Device', 'c-a'))!;
    copy.status.phase = 'Failed';
    expect((await store.get('Device', 'c-a'))!.status.phase).toBe('Pending');

    // Another process (its own informers) sees them all.
    const other = openStore();
    expect((await other.list('Device')).filter((d) => d.metadata.labels.fleet === 'c')).toHaveLength(3);
  });

  it('createMany creates in order; on a taken name it deletes what it created and names the name', async () => {
    const store = openStore();
    await store.create('Device', 'm-taken', spec(), pending());
    const error = await store
      .createMany('Device', [
        { name: 'm-1', spec: spec(), status: pending() },
        { name: 'm-2', spec: spec(), status: pending() },
        { name: 'm-taken', spec: spec(), status: pending() },
        { name: 'm-3', spec: spec(), status: pending() },
      ])
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(AlreadyExistsError);
    expect((error as AlreadyExistsError).resourceName).toBe('m-taken');
    for (const name of ['m-1', 'm-2', 'm-3']) {
      expect(await store.get('Device', name), name).toBeUndefined();
      expect(await exists('device', name), name).toBe(false);
    }
    const made = await store.createMany('Device', [
      { name: 'm-1', spec: spec(), status: pending() },
      { name: 'm-2', spec: spec(), status: pending() },
    ]);
    expect(made.map((d) => d.metadata.name)).toEqual(['m-1', 'm-2']);
  });

  it('updateStatus from two processes at once loses no write: 409 Conflict re-reads and retries', async () => {
    const a = openStore();
    const b = openStore();
    await a.create('Device', 'u-1', spec(), pending());
    await b.get('Device', 'u-1'); // b's cache holds it too: both start from cached copies
    let calls = 0;
    const writes = Array.from({ length: 16 }, (_, i) =>
      (i % 2 ? a : b).updateStatus('Device', 'u-1', (s) => {
        calls++;
        return { ...s, apps: { ...s.apps, [`w${i}`]: { state: 'Running' } } };
      }),
    );
    await Promise.all(writes);
    // b's last write reaches a's cache through a's informer, a moment after it returned.
    const all = Array.from({ length: 16 }, (_, i) => `w${i}`).sort();
    const final = await waitFor('all 16 writes in the store', async () => {
      const device = await a.get('Device', 'u-1');
      return device && Object.keys(device.status.apps).length === 16 ? device : undefined;
    });
    expect(Object.keys(final.status.apps).sort()).toEqual(all);
    // Concurrent writers conflicted and mutate ran again on the fresh object.
    expect(calls).toBeGreaterThan(16);
    await expect(a.updateStatus('Device', 'u-none', (s) => s)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("reads come from the cache; a caller's own writes are visible to its next read", async () => {
    const cache = cacheBehindRelay();
    const store = openStore({ cache });
    const other = openStore();
    await store.create('Device', 'o-1', spec(), pending());
    expect((await store.get('Device', 'o-1'))?.status.phase).toBe('Pending');
    await waitFor('the relayed informer to hold o-1', async () => cache.size('Device') > 0, 30_000);

    // The informer's connection is cut: reads still answer (from the cache), writes still go
    // through (direct), and the store sees its own writes at once.
    const cut = cluster.proxy.cut(15_000);
    await new Promise((r) => setTimeout(r, 200));
    const revision = await store.revision();
    await store.updateStatus('Device', 'o-1', (s) => ({ ...s, phase: 'Provisioning' }));
    expect((await store.get('Device', 'o-1'))?.status.phase).toBe('Provisioning');
    expect((await store.list('Device')).find((d) => d.metadata.name === 'o-1')?.status.phase).toBe(
      'Provisioning',
    );
    expect(await store.revision()).toBeGreaterThan(revision);
    await store.create('Device', 'o-2', spec(), pending());
    expect((await store.listPage('Device', { namePrefix: 'o-' })).items.map((d) => d.metadata.name)).toEqual([
      'o-1',
      'o-2',
    ]);
    expect(await store.delete('Device', 'o-2')).toBe(true);
    expect(await store.get('Device', 'o-2')).toBeUndefined();
    // Another process's write reaches this cache through the informer once it has reconnected.
    // (Whether it is still missing at this point depends on how long the steps above took on a
    // loaded machine, so the test does not assert that it is.)
    await other.updateStatus('Device', 'o-1', (s) => ({ ...s, message: 'from the other process' }));
    await cut;
    await waitFor(
      'the other write to reach the cache',
      async () => (await store.get('Device', 'o-1'))?.status.message === 'from the other process',
      30_000,
      50,
    );
    expect(await store.get('Device', 'o-2')).toBeUndefined();
  });

  it('delete removes the controller finalizer; a deleted name is gone for its caller at once', async () => {
    const store = openStore();
    await store.create('Device', 'd-1', spec(), pending());
    const patched = await cluster.kubectl([
      'patch',
      'device',
      'd-1',
      '--type=merge',
      '-p',
      JSON.stringify({ metadata: { finalizers: ['wasmbed.io/deprovision'] } }),
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    expect(await store.delete('Device', 'd-1')).toBe(true);
    expect(await store.get('Device', 'd-1')).toBeUndefined();
    expect(await exists('device', 'd-1')).toBe(false);
    expect(await store.delete('Device', 'd-1')).toBe(false);
  });

  it('watch delivers informer events in its scope only', async () => {
    const store = openStore();
    const writer = openStore();
    const one: StoreEvent[] = [];
    const devices: StoreEvent[] = [];
    const gateways: StoreEvent[] = [];
    const stopOne = store.watch({ kind: 'Device', name: 'w-1' }, (e) => one.push(e));
    const stopDevices = store.watch({ kind: 'Device' }, (e) => devices.push(e));
    const stopGateways = store.watch({ kind: 'Gateway' }, (e) => gateways.push(e));
    await store.list('Device');
    await store.list('Gateway');

    await writer.create('Device', 'w-1', spec(), pending());
    await writer.create('Device', 'w-2', spec(), pending());
    await writer.updateStatus('Device', 'w-1', (s) => ({ ...s, phase: 'Provisioning' }));
    await writer.upsert(
      'Gateway',
      'w-gw',
      { endpoint: '127.0.0.1:1', maxDevices: 10, heartbeatIntervalSeconds: 5, heartbeatTimeoutSeconds: 15 },
      { phase: 'Ready', connectedDevices: 0, conditions: [] },
    );
    await writer.delete('Device', 'w-1');
    await waitFor(
      'w-1 deleted event',
      () => one.some((e) => e.type === 'DELETED') && gateways.length > 0 && devices.length >= 5,
      30_000,
      50,
    );
    expect(one.every((e) => e.kind === 'Device' && e.name === 'w-1')).toBe(true);
    expect(one.map((e) => e.type)).toContain('ADDED');
    expect(one.map((e) => e.type)).toContain('MODIFIED');
    expect(devices.some((e) => e.name === 'w-2')).toBe(true);
    expect(devices.every((e) => e.kind === 'Device')).toBe(true);
    expect(gateways.every((e) => e.kind === 'Gateway' && e.name === 'w-gw')).toBe(true);

    stopOne();
    stopDevices();
    stopGateways();
    const seen = devices.length;
    await writer.updateStatus('Device', 'w-2', (s) => ({ ...s, phase: 'Failed' }));
    await waitFor('w-2 to change', async () => (await store.get('Device', 'w-2'))?.status.phase === 'Failed');
    expect(devices.length).toBe(seen);
  });

  it('200 store calls at once do not block the event loop', async () => {
    const store = openStore();
    const names = Array.from({ length: 20 }, (_, i) => `e-${i}`);
    await store.createMany(
      'Device',
      names.map((name) => ({ name, spec: spec(), status: pending() })),
    );
    // A timer every 5 ms, and Node's own histogram. With the thread blocked per call (the old
    // Atomics.wait bridge) the loop stalls for all 200 API round trips in a row: 3-6 s measured
    // on the loaded 2-core machine (bench/kube-store.ts). Async, the worst gap there was 0.1-0.6 s.
    const delay = monitorEventLoopDelay({ resolution: 5 });
    const gaps = watchLoopGaps();
    delay.enable();
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const name = names[i % names.length]!;
        return i % 2
          ? store.updateStatus('Device', name, (s) => ({ ...s, lastHeartbeat: new Date().toISOString() }))
          : store.get('Device', name);
      }),
    );
    const elapsedMs = performance.now() - started;
    delay.disable();
    const worstGapMs = gaps.stop();
    expect(results.every((r) => r?.metadata.name.startsWith('e-'))).toBe(true);
    const maxDelayMs = delay.max / 1e6;
    process.stderr.write(
      `[kubernetes-store] 200 calls in ${elapsedMs.toFixed(0)} ms; worst timer gap ${worstGapMs.toFixed(0)} ms, ` +
        `max event-loop delay ${maxDelayMs.toFixed(0)} ms\n`,
    );
    expect(worstGapMs).toBeLessThan(1000);
    expect(maxDelayMs).toBeLessThan(1000);
    // The loop stayed free for most of the burst, not merely a short burst.
    expect(worstGapMs).toBeLessThan(elapsedMs / 2);
  });
});

const WASMBED_KINDS = 'devices.wasmbed.io,gateways.wasmbed.io,applications.wasmbed.io';

/** Deletes every wasmbed.io resource of the namespace (finalizers dropped) and waits until none is left. */
async function emptyNamespace(): Promise<void> {
  const deleted = await cluster.kubectl(['delete', WASMBED_KINDS, '--all', '--wait=false']);
  expect(deleted.code, deleted.stderr).toBe(0);
  const left = await cluster.kubectl(['get', WASMBED_KINDS, '-o', 'name']);
  for (const name of left.stdout.split('\n').filter(Boolean)) {
    await cluster.kubectl(['patch', name, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  }
  await waitFor('the namespace emptied', async () => {
    const r = await cluster.kubectl(['get', WASMBED_KINDS, '-o', 'name']);
    return r.code === 0 && r.stdout.trim() === '';
  });
}

// The contract every backend owes (test/support/store-contract.ts), here on the API server: each
// test on an emptied namespace, its store instances each with informers of their own.
resourceStoreContract({
  name: 'Kubernetes',
  watchable: true,
  transactional: false,
  async database() {
    await emptyNamespace();
    const opened: KubernetesResourceStore[] = [];
    return {
      async open() {
        const store = new KubernetesResourceStore({ namespace: 'default', kubeconfig: cluster.kubeconfig });
        opened.push(store);
        return store;
      },
      async dispose() {
        for (const store of opened) await store.close();
        await emptyNamespace();
      },
    };
  },
});
