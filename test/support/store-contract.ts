/**
 * The behaviour every ResourceStore backend owes its callers, as vitest tests that a suite
 * registers once per backend (test/store-contract.test.ts runs them on SQLite and PostgreSQL).
 * A backend is given as a factory of "shared databases": each test gets a fresh one and may open
 * several store instances on it, the way several processes share one database.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../../common/errors.js';
import type { DevicePhase, ResourceKind } from '../../common/resources.js';
import type { NewResource, ResourceStore } from '../../store/resource-store.js';
import { waitFor } from './wait.js';

/** One empty shared database of the backend under test. */
export interface SharedDatabase {
  /** A new store instance on it (as another process would open it). */
  open(): Promise<ResourceStore>;
  /** Closes what open() made and removes the database. */
  dispose(): Promise<void>;
}

export interface StoreBackend {
  name: string;
  /** A fresh, empty database for one test. */
  database(): Promise<SharedDatabase>;
}

type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; kind: ResourceKind; name: string };

export function device(
  name: string,
  options: {
    phase?: DevicePhase;
    runtime?: 'virtual' | 'qemu';
    labels?: Record<string, string>;
    statusGateway?: string;
    specGateway?: string;
  } = {},
): NewResource<'Device'> {
  const labels = options.labels ?? {};
  return {
    name,
    spec: {
      mcuType: 'Stm32F746gDisco',
      runtime: options.runtime ?? 'virtual',
      labels,
      ...(options.specGateway ? { gateway: options.specGateway } : {}),
    },
    status: {
      phase: options.phase ?? 'Pending',
      conditions: [],
      apps: {},
      ...(options.statusGateway ? { gateway: { name: options.statusGateway, endpoint: 'gw:8081' } } : {}),
    },
    labels,
  };
}

async function create(store: ResourceStore, item: NewResource<'Device'>) {
  return store.create('Device', item.name, item.spec, item.status, item.labels);
}

/** Registers the ResourceStore contract tests for `backend`. */
export function resourceStoreContract(backend: StoreBackend): void {
  describe(`ResourceStore contract on ${backend.name}`, () => {
    let shared: SharedDatabase;
    let store: ResourceStore;

    beforeEach(async () => {
      shared = await backend.database();
      store = await shared.open();
    });
    afterEach(async () => {
      await shared?.dispose();
    });

    it('creates, reads back, and refuses a taken name with AlreadyExistsError', async () => {
      const created = await create(store, device('dev-1', { labels: { group: 'lab' } }));
      expect(created.metadata).toMatchObject({ name: 'dev-1', namespace: 'default', generation: 1 });
      expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number(created.metadata.resourceVersion)).toBeGreaterThan(0);
      const read = await store.get('Device', 'dev-1');
      expect(read).toEqual(created);
      expect(read?.metadata.labels).toEqual({ group: 'lab' });
      await expect(create(store, device('dev-1'))).rejects.toThrow(AlreadyExistsError);
      // The same name is free in another kind.
      await store.create('Gateway', 'dev-1', { endpoint: 'gw:8081' } as never, { phase: 'Ready' } as never);
      expect(await store.get('Device', 'missing')).toBeUndefined();
    });

    it('upsert inserts, then replaces spec and status; only a spec change is a new generation', async () => {
      const spec = { endpoint: 'gw:8081' } as never;
      const first = await store.upsert('Gateway', 'gw', spec, { phase: 'Ready' } as never);
      expect(first.metadata.generation).toBe(1);
      const same = await store.upsert('Gateway', 'gw', spec, { phase: 'Unavailable' } as never);
      expect(same.metadata.generation).toBe(1);
      expect(same.metadata.uid).toBe(first.metadata.uid);
      expect((await store.get('Gateway', 'gw'))?.status).toEqual({ phase: 'Unavailable' });
      const changed = await store.upsert(
        'Gateway',
        'gw',
        { endpoint: 'gw:9999' } as never,
        { phase: 'Ready' } as never,
      );
      expect(changed.metadata.generation).toBe(2);
      expect(Number(changed.metadata.resourceVersion)).toBeGreaterThan(Number(same.metadata.resourceVersion));
    });

    it('lists in name order, pages with filters and continue tokens, and counts by field', async () => {
      const items = Array.from({ length: 30 }, (_, i) =>
        device(`d-${String(i).padStart(2, '0')}`, {
          phase: (['Connected', 'Failed', 'Pending'] as const)[i % 3],
          runtime: i % 2 ? 'qemu' : 'virtual',
          labels: { group: i % 2 ? 'lab' : 'field', ...(i % 5 === 0 ? { gpu: 'yes' } : {}) },
          ...(i % 4 === 0 ? { specGateway: 'gw-b' } : { statusGateway: i % 4 === 1 ? 'gw-a' : 'gw-b' }),
        }),
      );
      // Inserted out of order: the order is the store's.
      await store.createMany('Device', [...items].reverse());
      const all = await store.list('Device');
      expect(all.map((d) => d.metadata.name)).toEqual(items.map((i) => i.name));
      expect(await store.list('Gateway')).toEqual([]);

      // Walk a filtered list 4 at a time: every match exactly once, in order.
      const query = { phase: 'Connected', labelSelector: 'group=field' };
      const expected = items.filter((_, i) => i % 3 === 0 && i % 2 === 0).map((d) => d.name);
      const walked: string[] = [];
      let page = await store.listPage('Device', { ...query, limit: 4 });
      walked.push(...page.items.map((d) => d.metadata.name));
      expect(page.metadata.remainingItemCount).toBe(expected.length - 4);
      while (page.metadata.continue) {
        // A resource created mid-walk before the cursor does not shift the pages.
        if (walked.length === 4)
          await create(store, device('a-late', { phase: 'Connected', labels: { group: 'field' } }));
        page = await store.listPage('Device', { ...query, limit: 4, continue: page.metadata.continue });
        walked.push(...page.items.map((d) => d.metadata.name));
      }
      expect(walked).toEqual(expected);

      // Each filter on its own.
      const names = async (q: Parameters<ResourceStore['listPage']>[1]) =>
        (await store.listPage('Device', q)).items
          .map((d) => d.metadata.name)
          .filter((n) => n.startsWith('d-'));
      const where = (pred: (i: number) => boolean) => items.filter((_, i) => pred(i)).map((d) => d.name);
      expect(await names({ runtime: 'qemu' })).toEqual(where((i) => i % 2 === 1));
      expect(await names({ gateway: 'gw-a' })).toEqual(where((i) => i % 4 === 1));
      // The gateway in the status, else the one asked for in the spec.
      expect(await names({ gateway: 'gw-b' })).toEqual(where((i) => i % 4 !== 1));
      expect(await names({ labelSelector: 'gpu' })).toEqual(where((i) => i % 5 === 0));
      expect(await names({ labelSelector: '!gpu,group!=lab' })).toEqual(
        where((i) => i % 5 !== 0 && i % 2 === 0),
      );
      expect(await names({ namePrefix: 'd-1' })).toEqual(where((i) => i >= 10 && i < 20));
      await expect(
        store.listPage('Device', { phase: 'Failed', limit: 2, continue: page.metadata.continue ?? 'bad' }),
      ).rejects.toThrow(ValidationError);
      const first = await store.listPage('Device', { phase: 'Connected', limit: 2 });
      await expect(
        store.listPage('Device', { phase: 'Failed', limit: 2, continue: first.metadata.continue }),
      ).rejects.toThrow(/other filters/);

      expect(await store.countBy('Device', 'phase', { namePrefix: 'd-' })).toEqual({
        Connected: 10,
        Failed: 10,
        Pending: 10,
      });
      expect(await store.countBy('Device', 'phase', { namePrefix: 'd-', runtime: 'qemu' })).toEqual({
        Connected: 5,
        Failed: 5,
        Pending: 5,
      });
    });

    it('createMany creates all or nothing', async () => {
      await create(store, device('taken'));
      const revision = await store.revision();
      await expect(
        store.createMany('Device', [device('new-1'), device('taken'), device('new-2')]),
      ).rejects.toThrow(/"taken" already exists/);
      await expect(store.createMany('Device', [device('new-3'), device('new-3')])).rejects.toThrow(
        AlreadyExistsError,
      );
      expect((await store.list('Device')).map((d) => d.metadata.name)).toEqual(['taken']);
      expect(await store.revision()).toBe(revision);
      const created = await store.createMany('Device', [device('new-1'), device('new-2')]);
      const versions = created.map((d) => Number(d.metadata.resourceVersion));
      expect(versions[1]).toBeGreaterThan(versions[0]!);
      expect(await store.revision()).toBe(versions[1]);
    });

    it('updateStatus applies the mutation, and NotFound for a missing resource', async () => {
      await create(store, device('dev-1'));
      const updated = await store.updateStatus('Device', 'dev-1', (s) => ({ ...s, phase: 'Connected' }));
      expect(updated.status.phase).toBe('Connected');
      expect((await store.get('Device', 'dev-1'))?.status.phase).toBe('Connected');
      await expect(store.updateStatus('Device', 'nobody', (s) => s)).rejects.toThrow(NotFoundError);
    });

    it('updateStatus is atomic: two instances racing increments lose none', async () => {
      const other = await shared.open();
      await create(store, device('counter'));
      const increment = (s: ReturnType<typeof device>['status']) => ({
        ...s,
        message: String(Number(s.message ?? '0') + 1),
      });
      const perInstance = 25;
      await Promise.all(
        Array.from({ length: perInstance }, () => [
          store.updateStatus('Device', 'counter', increment),
          other.updateStatus('Device', 'counter', increment),
        ]).flat(),
      );
      expect((await other.get('Device', 'counter'))?.status.message).toBe(String(2 * perInstance));
    });

    it('delete removes once; every write moves the revision forward', async () => {
      const r0 = await store.revision();
      await create(store, device('gone'));
      const r1 = await store.revision();
      expect(r1).toBeGreaterThan(r0);
      await store.updateStatus('Device', 'gone', (s) => ({ ...s, phase: 'Failed' }));
      const r2 = await store.revision();
      expect(r2).toBeGreaterThan(r1);
      expect(await store.delete('Device', 'gone')).toBe(true);
      const r3 = await store.revision();
      expect(r3).toBeGreaterThan(r2);
      expect(await store.get('Device', 'gone')).toBeUndefined();
      expect(await store.delete('Device', 'gone')).toBe(false);
      expect(await store.revision()).toBe(r3);
      // The name is free again.
      await create(store, device('gone'));
    });

    it('watch delivers the changes in its scope made by another instance, until stopped', async () => {
      const writer = await shared.open();
      const byName: WatchEvent[] = [];
      const byKind: WatchEvent[] = [];
      const stopName = store.watch({ kind: 'Device', name: 'w-1' }, (e) => byName.push(e));
      const stopKind = store.watch({ kind: 'Device' }, (e) => byKind.push(e));
      const seen = (events: WatchEvent[], type: WatchEvent['type'], name: string) =>
        waitFor(`${type} ${name}`, () => events.some((e) => e.type === type && e.name === name), 15_000, 20);

      // One step at a time: a polling backend may fold quick successive changes into one.
      await create(writer, device('w-1'));
      await seen(byName, 'ADDED', 'w-1');
      await writer.updateStatus('Device', 'w-1', (s) => ({ ...s, phase: 'Connected' }));
      await seen(byName, 'MODIFIED', 'w-1');
      await create(writer, device('w-2'));
      await writer.upsert('Gateway', 'w-1', { endpoint: 'gw:1' } as never, { phase: 'Ready' } as never);
      await seen(byKind, 'ADDED', 'w-2');
      await writer.delete('Device', 'w-1');
      await seen(byName, 'DELETED', 'w-1');

      expect(byName.every((e) => e.kind === 'Device' && e.name === 'w-1')).toBe(true);
      expect(byName.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
      expect(byKind.every((e) => e.kind === 'Device')).toBe(true);

      stopName();
      stopKind();
      const before = byKind.length;
      await create(writer, device('w-3'));
      // A later change in scope, seen by a fresh watcher, shows the stopped ones have had time.
      const after: WatchEvent[] = [];
      const stopAfter = store.watch({}, (e) => after.push(e));
      await writer.updateStatus('Device', 'w-3', (s) => ({ ...s, phase: 'Failed' }));
      await seen(after, 'MODIFIED', 'w-3');
      stopAfter();
      expect(byKind.length).toBe(before);
    });
  });
}
