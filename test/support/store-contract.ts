/**
 * The behaviour every ResourceStore backend owes its callers, as vitest tests that a suite
 * registers once per backend (test/store-contract.test.ts runs them on SQLite and PostgreSQL,
 * test/kubernetes-store.test.ts on the Kubernetes API server).
 * A backend is given as a factory of "shared databases": each test gets a fresh one and may open
 * several store instances on it, the way several processes share one database.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../../common/errors.js';
import type { DevicePhase } from '../../common/resources.js';
import { CertificateAuthority } from '../../pki/certificate-authority.js';
import type { CertificateRepository } from '../../pki/certificate-repository.js';
import type { ClaimCredentialStore } from '../../pki/claim-credential-store.js';
import { ClaimCredentials, ClaimRefusedError, type ClaimCredential } from '../../pki/claim-credentials.js';
import { DeviceCertificates } from '../../pki/device-certificates.js';
import type { DeviceLogs } from '../../store/device-logs.js';
import type { ModuleStore } from '../../store/module-store.js';
import type {
  NewResource,
  ResourceEvent,
  ResourceStore,
  WatchableResourceStore,
} from '../../store/resource-store.js';
import { waitFor } from './wait.js';

/** One empty shared database of the backend under test. */
export interface SharedDatabase {
  /** A new store instance on it (as another process would open it). */
  open(): Promise<ResourceStore | WatchableResourceStore>;
  /** Closes what open() made and removes the database. */
  dispose(): Promise<void>;
}

export interface StoreBackend {
  name: string;
  /** A fresh, empty database for one test. */
  database(): Promise<SharedDatabase>;
  /** The backend's change feed is tested (every ResourceStore has watch()). */
  watchable?: boolean;
  /**
   * false: no multi-object transaction (createMany creates and, on failure, deletes again),
   * revision() counts the changes one instance saw rather than one counter of all writes, and an
   * instance reads another's writes once its watch delivered them (Kubernetes: an informer
   * cache). The checks that need any of these are skipped or wait; the rest of the contract holds.
   */
  transactional?: boolean;
}

function watchable(store: ResourceStore): WatchableResourceStore {
  if (!('watch' in store)) throw new Error('this store has no watch()');
  return store as WatchableResourceStore;
}

type WatchEvent = ResourceEvent;

export function device(
  name: string,
  options: {
    phase?: DevicePhase;
    runtime?: 'virtual' | 'qemu';
    labels?: Record<string, string>;
    statusGateway?: string;
    specGateway?: string;
    /** Application name → its state on the device (status.apps). */
    apps?: Record<string, string>;
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
      apps: Object.fromEntries(
        Object.entries(options.apps ?? {}).map(([app, state]) => [
          app,
          { state, error: state === 'Failed' ? 'trap: unreachable' : null, restarts: 0, since: SINCE },
        ]),
      ),
      ...(options.statusGateway ? { gateway: { name: options.statusGateway, endpoint: 'gw:8081' } } : {}),
    },
    labels,
  };
}

const SINCE = '2026-01-01T00:00:00.000Z';

async function create(store: ResourceStore, item: NewResource<'Device'>) {
  return store.create('Device', item.name, item.spec, item.status, item.labels);
}

/** Registers the ResourceStore contract tests for `backend`. */
export function resourceStoreContract(backend: StoreBackend): void {
  const transactional = backend.transactional ?? true;
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
      // A backend may fill in defaults of its schema (a CRD's): the written fields are what counts.
      expect((await store.get('Gateway', 'gw'))?.status).toMatchObject({ phase: 'Unavailable' });
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

    it('filters devices by an application and its state on them, across pages and in counts', async () => {
      const states = ['Running', 'Failed', 'Deploying', 'Failed'] as const;
      // blinky on all but every fifth device, in the state of states[i % 4]; sensor on even
      // devices, Running; `blinky-2` (a name blinky is a prefix of) Failed on every fifth.
      const items = Array.from({ length: 20 }, (_, i) =>
        device(`app-${String(i).padStart(2, '0')}`, {
          phase: i % 2 ? 'Connected' : 'Disconnected',
          apps: {
            ...(i % 5 ? { blinky: states[i % 4]! } : { 'blinky-2': 'Failed' }),
            ...(i % 2 ? {} : { sensor: 'Running' }),
          },
        }),
      );
      await store.createMany('Device', items);
      await create(store, device('no-apps'));
      const where = (pred: (i: number) => boolean) => items.filter((_, i) => pred(i)).map((d) => d.name);
      const names = async (q: Parameters<ResourceStore['listPage']>[1]) =>
        (await store.listPage('Device', q)).items.map((d) => d.metadata.name);

      expect(await names({ app: 'blinky' })).toEqual(where((i) => i % 5 !== 0));
      expect(await names({ app: 'blinky', appState: 'Failed' })).toEqual(
        where((i) => i % 5 !== 0 && i % 2 === 1),
      );
      expect(await names({ app: 'blinky-2', appState: 'Failed' })).toEqual(where((i) => i % 5 === 0));
      expect(await names({ app: 'sensor', appState: 'Failed' })).toEqual([]);
      expect(await names({ app: 'nothing' })).toEqual([]);
      // With the other filters: blinky Deploying on the Disconnected (even) devices.
      expect(await names({ app: 'blinky', appState: 'Deploying', phase: 'Disconnected' })).toEqual(
        where((i) => i % 5 !== 0 && i % 4 === 2),
      );

      // Paged 2 at a time: every Failed device once, the count of those left on each page.
      const failed = where((i) => i % 5 !== 0 && i % 2 === 1);
      const walked: string[] = [];
      let page = await store.listPage('Device', { app: 'blinky', appState: 'Failed', limit: 2 });
      for (;;) {
        walked.push(...page.items.map((d) => d.metadata.name));
        expect(page.metadata.remainingItemCount ?? 0).toBe(failed.length - walked.length);
        if (!page.metadata.continue) break;
        page = await store.listPage('Device', {
          app: 'blinky',
          appState: 'Failed',
          limit: 2,
          continue: page.metadata.continue,
        });
      }
      expect(walked).toEqual(failed);
      // A token of the Failed walk is not one of the Running walk's.
      const first = await store.listPage('Device', { app: 'blinky', appState: 'Failed', limit: 2 });
      await expect(
        store.listPage('Device', { app: 'blinky', appState: 'Running', continue: first.metadata.continue }),
      ).rejects.toThrow(/other filters/);

      expect(await store.countBy('Device', 'phase', { app: 'blinky', appState: 'Failed' })).toEqual({
        Connected: failed.length,
      });
      expect(await store.countBy('Device', 'phase', { app: 'sensor' })).toEqual({ Disconnected: 10 });

      // The filter follows the device's state: a Failed device that runs again leaves the Failed list.
      await store.updateStatus('Device', failed[0]!, (s) => ({
        ...s,
        apps: { ...s.apps, blinky: { state: 'Running', error: null, restarts: 1, since: SINCE } },
      }));
      expect(await names({ app: 'blinky', appState: 'Failed' })).toEqual(failed.slice(1));

      // appState alone names no application; an app that cannot be a name is refused.
      await expect(store.listPage('Device', { appState: 'Failed' })).rejects.toThrow(ValidationError);
      await expect(store.listPage('Device', { appState: 'Failed' })).rejects.toMatchObject({
        field: 'appState',
      });
      await expect(store.listPage('Device', { app: 'x"]' })).rejects.toMatchObject({ field: 'app' });
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
      if (transactional) expect(await store.revision()).toBe(revision);
      const created = await store.createMany('Device', [device('new-1'), device('new-2')]);
      const versions = created.map((d) => Number(d.metadata.resourceVersion));
      expect(versions[1]).toBeGreaterThan(versions[0]!);
      if (transactional) expect(await store.revision()).toBe(versions[1]);
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
      const total = String(2 * perInstance);
      if (transactional) expect((await other.get('Device', 'counter'))?.status.message).toBe(total);
      // Else the other instance's last writes reach this one's reads with their watch events; a
      // lost write would keep the count short for good.
      else
        await waitFor(
          `the count at ${total}`,
          async () => ((await other.get('Device', 'counter'))?.status.message === total ? true : undefined),
          15_000,
        );
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
      if (transactional) expect(await store.revision()).toBe(r3);
      // The name is free again.
      await create(store, device('gone'));
    });

    it.runIf(backend.watchable)(
      'watch delivers the changes in its scope made by another instance, until stopped',
      async () => {
        const writer = await shared.open();
        const watcher = watchable(store);
        const byName: WatchEvent[] = [];
        const byKind: WatchEvent[] = [];
        const stopName = watcher.watch({ kind: 'Device', name: 'w-1' }, (e) => byName.push(e));
        const stopKind = watcher.watch({ kind: 'Device' }, (e) => byKind.push(e));
        const seen = (events: WatchEvent[], type: WatchEvent['type'], name: string) =>
          waitFor(
            `${type} ${name}`,
            () => events.some((e) => e.type === type && e.name === name),
            15_000,
            20,
          );

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
        // One call may be several writes of one kind (Kubernetes: create, then its status).
        const types = byName.map((e) => e.type).filter((type, i, all) => type !== all[i - 1]);
        expect(types).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
        expect(byKind.every((e) => e.kind === 'Device')).toBe(true);

        stopName();
        stopKind();
        const before = byKind.length;
        await create(writer, device('w-3'));
        // A later change in scope, seen by a fresh watcher, shows the stopped ones have had time.
        const after: WatchEvent[] = [];
        const stopAfter = watcher.watch({}, (e) => after.push(e));
        await writer.updateStatus('Device', 'w-3', (s) => ({ ...s, phase: 'Failed' }));
        await seen(after, 'MODIFIED', 'w-3');
        stopAfter();
        expect(byKind.length).toBe(before);
      },
    );
  });
}

/** The other shared stores of one database, as one process opens them. */
export interface SharedStateInstance {
  certificates: CertificateRepository;
  claims: ClaimCredentialStore;
  logs: DeviceLogs;
  modules: ModuleStore;
}

export interface SharedStateBackend {
  name: string;
  /** A fresh, empty database: `open()` gives another process's view of it. */
  database(): Promise<{ open(): Promise<SharedStateInstance>; dispose(): Promise<void> }>;
}

/**
 * Registers the contract of the certificate ledger, claim credentials, device logs and module
 * store for `backend`: the rules that must hold however many processes share the database.
 */
export function sharedStateContract(backend: SharedStateBackend): void {
  describe(`ledger, claims, logs and modules on ${backend.name}`, () => {
    let shared: Awaited<ReturnType<SharedStateBackend['database']>>;
    let a: SharedStateInstance;
    let b: SharedStateInstance;
    let caDir: string;
    let ca: CertificateAuthority;
    let claimCa: CertificateAuthority;

    beforeAll(async () => {
      caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-contract-ca-'));
      ca = await CertificateAuthority.loadOrCreate(path.join(caDir, 'ca'), { keyType: 'p256' });
      claimCa = await CertificateAuthority.loadOrCreate(path.join(caDir, 'claim'), {
        keyType: 'p256',
        commonName: 'Contract Claim CA',
      });
    });
    afterAll(() => {
      if (caDir) fs.rmSync(caDir, { recursive: true, force: true });
    });
    beforeEach(async () => {
      shared = await backend.database();
      a = await shared.open();
      b = await shared.open();
    });
    afterEach(async () => {
      await shared?.dispose();
    });

    it('two processes issuing for one device at once end with one active certificate, the same for all', async () => {
      const issuers = [a, b].map((s) => new DeviceCertificates(ca, s.certificates));
      const records = await Promise.all(Array.from({ length: 6 }, (_, i) => issuers[i % 2]!.issue('racer')));
      expect(new Set(records.map((r) => r.serial)).size).toBe(1);
      expect(await a.certificates.countActive('racer')).toBe(1);
      expect(await b.certificates.listForDevice('racer')).toHaveLength(1);
      expect((await b.certificates.findActive('racer'))?.serial).toBe(records[0]!.serial);
    });

    it('two processes renewing one certificate at once: one renewal wins, the old one is revoked', async () => {
      const first = await new DeviceCertificates(ca, a.certificates).issue('renewed');
      // Two new serials, each with a last byte other than the first's: `…1f`/`…2f` in place of it
      // were the first's own serial whenever that ended in 1f or 2f (1 run in 128 failed so).
      const lastByte = parseInt(first.serial.slice(-2), 16);
      const fresh = (i: number) => ({
        ...first,
        serial: `${first.serial.slice(0, -2)}${((lastByte + i) % 256).toString(16).padStart(2, '0')}`,
        createdAt: new Date().toISOString(),
      });
      const at = new Date();
      const winners = await Promise.all([
        a.certificates.replaceActive(first.serial, fresh(1), at),
        b.certificates.replaceActive(first.serial, fresh(2), at),
      ]);
      expect(winners[0]!.serial).toBe(winners[1]!.serial);
      expect(winners[0]!.serial).not.toBe(first.serial);
      expect(await a.certificates.countActive('renewed')).toBe(1);
      expect(await b.certificates.isRevoked(first.serial)).toBe(true);
      expect(await b.certificates.isRevoked(winners[0]!.serial)).toBe(false);
      expect(await a.certificates.isRevoked('00unknown')).toBe(false);
      expect(await b.certificates.revokeAllForDevice('renewed', new Date())).toBe(1);
      expect(await a.certificates.findActive('renewed')).toBeUndefined();
      expect((await a.certificates.listForDevice('renewed')).map((r) => r.serial)).toEqual([
        first.serial,
        winners[0]!.serial,
      ]);
    });

    it('a claim credential redeemed by two processes at once: exactly one device wins', async () => {
      const claimsA = new ClaimCredentials(a.claims, claimCa);
      const claimsB = new ClaimCredentials(b.claims, claimCa);
      const { id, token } = await claimsA.createToken({ ttl: '1h' });
      const attempts = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? claimsB : claimsA).claim({ kind: 'token', token }, `board-${i}`, `spki-${i}`),
        ),
      );
      const won = attempts.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      const winner = (won[0] as PromiseFulfilledResult<ClaimCredential>).value;
      for (const lost of attempts.filter((r) => r.status === 'rejected')) {
        expect((lost as PromiseRejectedResult).reason).toBeInstanceOf(ClaimRefusedError);
        expect(String((lost as PromiseRejectedResult).reason)).toMatch(/was already used/);
      }
      // The winner may present it again (a reconnect); the record says who bound it.
      const again = await claimsB.claim(
        { kind: 'token', token },
        winner.usedBy!,
        `spki-${winner.usedBy!.slice(6)}`,
      );
      expect(again.state).toBe('Bound');
      expect((await claimsA.get(id)).usedBy).toBe(winner.usedBy);
      await claimsB.finish(id, 'enrolled');
      expect((await claimsA.list()).map((c) => [c.id, c.state])).toEqual([[id, 'Enrolled']]);
      await claimsA.revoke(id);
      await expect(claimsB.claim({ kind: 'token', token }, winner.usedBy!, 'x')).rejects.toThrow(
        /was revoked/,
      );
      await expect(claimsB.claim({ kind: 'token', token: 'wbt_nothing' }, 'b', 'x')).rejects.toThrow(
        /unknown enrollment token/,
      );
    });

    it('device logs written by one process are read by another, filtered and after an id', async () => {
      const time = new Date().toISOString();
      for (let i = 0; i < 5; i++) {
        await a.logs.append({
          device: 'logger',
          time,
          appId: i % 2 ? 'app' : null,
          kind: 'log',
          level: 2,
          message: `line ${i}`,
        });
      }
      await a.logs.append({ device: 'other', time, appId: null, kind: 'publish', level: 2, message: 't: x' });
      const all = await b.logs.list('logger');
      expect(all.map((e) => e.message)).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
      expect(typeof all[0]!.id).toBe('number');
      expect((await b.logs.list('logger', { appId: 'app' })).map((e) => e.message)).toEqual([
        'line 1',
        'line 3',
      ]);
      expect((await b.logs.list('logger', { afterId: all[2]!.id })).map((e) => e.message)).toEqual([
        'line 3',
        'line 4',
      ]);
      expect((await b.logs.list('logger', { limit: 2 })).map((e) => e.message)).toEqual(['line 3', 'line 4']);
      await b.logs.deleteDevice('logger');
      expect(await a.logs.list('logger')).toEqual([]);
      expect(await a.logs.list('other')).toHaveLength(1);
    });

    it('a module put by one process is read by another, checked against its hash', async () => {
      const bytes = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
      const { sha256, size } = await a.modules.put(bytes);
      expect(size).toBe(8);
      expect(await a.modules.put(bytes)).toEqual({ sha256, size }); // idempotent
      expect(await b.modules.has(sha256)).toBe(true);
      expect([...(await b.modules.get(sha256))]).toEqual([...bytes]);
      const missing = 'f'.repeat(64);
      expect(await b.modules.has(missing)).toBe(false);
      await expect(b.modules.get(missing)).rejects.toThrow(NotFoundError);
      await expect(b.modules.get('../etc/passwd')).rejects.toThrow(/is not a sha256 hex digest/);
    });

    it('lists modules with when each was last stored, and removes one only if not stored again since', async () => {
      const first = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0, 3, 1, 0x61]);
      const second = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0, 3, 1, 0x62]);
      const { sha256 } = await a.modules.put(first);
      const { sha256: other } = await a.modules.put(second);
      const listed = async (hash: string) => (await b.modules.list()).find((m) => m.sha256 === hash)!;
      const before = await listed(sha256);
      expect(before).toMatchObject({ sha256, size: first.length });
      expect((await b.modules.list()).map((m) => m.sha256).sort()).toEqual([sha256, other].sort());

      // Stored again (an Application took it up): a later time, and the listing before it removes nothing.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await a.modules.put(first);
      const after = await listed(sha256);
      expect(after.storedAt.getTime()).toBeGreaterThan(before.storedAt.getTime());
      expect(await b.modules.remove(before)).toBe(false);
      expect(await a.modules.has(sha256)).toBe(true);
      expect([...(await a.modules.get(sha256))]).toEqual([...first]);

      // As listed last: removed, for every process; a second remove finds nothing.
      expect(await b.modules.remove(after)).toBe(true);
      expect(await a.modules.has(sha256)).toBe(false);
      expect(await a.modules.remove(after)).toBe(false);
      expect((await a.modules.list()).map((m) => m.sha256)).toEqual([other]);
      // Stored once more after that: back, whole.
      await a.modules.put(first);
      expect([...(await b.modules.get(sha256))]).toEqual([...first]);
    });
  });
}
