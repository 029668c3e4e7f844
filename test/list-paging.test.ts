/**
 * Paged, filtered lists on the real SQLite store (a temporary database file): limit/continue
 * across pages, nothing twice or missed while resources are added, every filter, tokens bound
 * to their filters (an application and its state on the device among them), and the in-memory
 * pager (Kubernetes backend, enrollments) agreeing with the SQL one. createMany: all or nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError, ValidationError } from '../common/errors.js';
import type { Device, DevicePhase, DeviceRuntime } from '../common/resources.js';
import { pageOf, parseLabelSelector, type ListQuery } from '../store/list-query.js';
import type { NewResource } from '../store/resource-store.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';

let home: string;
let store: SqliteResourceStore;

const PHASES: DevicePhase[] = ['Connected', 'Provisioning', 'Failed'];
const RUNTIMES: DeviceRuntime[] = ['virtual', 'qemu'];

function device(i: number, prefix = 'dev'): NewResource<'Device'> {
  const name = `${prefix}-${String(i).padStart(3, '0')}`;
  const labels: Record<string, string> = { group: i % 2 ? 'lab' : 'field' };
  if (i % 5 === 0) labels.gpu = 'yes';
  return {
    name,
    spec: {
      mcuType: i % 4 === 0 ? 'Mps2An385' : 'Stm32F746gDisco',
      runtime: RUNTIMES[i % 2]!,
      labels,
      // Devices without a gateway in their status yet are filtered by the one they asked for.
      ...(i % 3 === 2 ? { gateway: 'gateway-b' } : {}),
    },
    status: {
      phase: PHASES[i % 3]!,
      conditions: [],
      // blinky on three devices in four: Failed on the first of them, else Running.
      apps:
        i % 4 === 0
          ? {}
          : {
              blinky: {
                state: i % 4 === 1 ? 'Failed' : 'Running',
                restarts: 0,
                since: '2026-01-01T00:00:00Z',
              },
            },
      ...(i % 3 === 2 ? {} : { gateway: { name: i % 2 ? 'gateway-a' : 'gateway-b', endpoint: 'x:1' } }),
    },
    labels,
  };
}

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-paging-'));
  store = new SqliteResourceStore(openDatabase(path.join(home, 'wasmbed.db')));
  await store.createMany(
    'Device',
    Array.from({ length: 250 }, (_, i) => device(i)),
  );
});
afterAll(async () => {
  await store?.close();
  fs.rmSync(home, { recursive: true, force: true });
});

/** Follows continue tokens to the end; `between` runs after each page. */
async function walk(
  query: ListQuery,
  between?: (page: number) => Promise<void> | void,
): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await store.listPage('Device', { ...query, continue: token });
    names.push(...page.items.map((d) => d.metadata.name));
    token = page.metadata.continue;
    if (token) expect(page.metadata.remainingItemCount).toBeGreaterThan(0);
    pages++;
    await between?.(pages);
  } while (token);
  return { names, pages };
}

describe('limit and continue', () => {
  it('returns every device once, in name order, page by page', async () => {
    const all = (await store.list('Device')).map((d) => d.metadata.name);
    const first = await store.listPage('Device', { limit: 100 });
    expect(first.items).toHaveLength(100);
    expect(first.metadata.remainingItemCount).toBe(150);
    const { names, pages } = await walk({ limit: 100 });
    expect(pages).toBe(3);
    expect(names).toEqual(all);
    expect(new Set(names).size).toBe(250);
    // Without a limit: everything, no token.
    const everything = await store.listPage('Device');
    expect(everything.items).toHaveLength(250);
    expect(everything.metadata).toEqual({});
  });

  it('misses nothing and repeats nothing while devices are added during the walk', async () => {
    const before = (await store.list('Device')).map((d) => d.metadata.name);
    let added = 0;
    const { names } = await walk({ limit: 40 }, async () => {
      // One sorting before every name (aaa-…), one after (zzz-…), one in the middle.
      await store.create('Device', `aaa-${added}`, device(1).spec, device(1).status);
      await store.create(
        'Device',
        `dev-${String(100 + added).padStart(3, '0')}x`,
        device(1).spec,
        device(1).status,
      );
      await store.create('Device', `zzz-${added}`, device(1).spec, device(1).status);
      added++;
    });
    for (const name of before) expect(names.filter((n) => n === name)).toHaveLength(1);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual([...names].sort());
    // Added after the cursor: seen; before it: not (as in Kubernetes, no snapshot is promised).
    expect(names.filter((n) => n.startsWith('zzz-')).length).toBeGreaterThan(0);
    expect(names.filter((n) => n.startsWith('aaa-'))).toEqual([]);
    for (let i = 0; i < added; i++) {
      await store.delete('Device', `aaa-${i}`);
      await store.delete('Device', `dev-${String(100 + i).padStart(3, '0')}x`);
      await store.delete('Device', `zzz-${i}`);
    }
  });

  it('refuses a bad limit, a forged token and a token from other filters, naming the parameter', async () => {
    const fail = async (query: ListQuery) => {
      try {
        await store.listPage('Device', query);
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        return err as ValidationError;
      }
      throw new Error('expected a ValidationError');
    };
    expect((await fail({ limit: 0 })).field).toBe('limit');
    expect((await fail({ limit: 1001 })).field).toBe('limit');
    expect((await fail({ continue: 'not-a-token' })).field).toBe('continue');
    const token = (await store.listPage('Device', { limit: 10, phase: 'Connected' })).metadata.continue!;
    const other = await fail({ limit: 10, phase: 'Failed', continue: token });
    expect(other.field).toBe('continue');
    expect(other.message).toMatch(/other filters/);
    // The same filters with another page size are fine.
    expect(
      (await store.listPage('Device', { limit: 25, phase: 'Connected', continue: token })).items,
    ).toHaveLength(25);
    // A token of one kind is not accepted for another.
    await expect(store.listPage('Gateway', { continue: token })).rejects.toThrow(ValidationError);
  });
});

describe('filters', () => {
  const expected = (predicate: (i: number) => boolean) =>
    Array.from({ length: 250 }, (_, i) => i)
      .filter(predicate)
      .map((i) => `dev-${String(i).padStart(3, '0')}`);

  const cases: [string, ListQuery, (i: number) => boolean][] = [
    ['phase', { phase: 'Failed' }, (i) => i % 3 === 2],
    ['runtime', { runtime: 'qemu' }, (i) => i % 2 === 1],
    ['mcuType', { mcuType: 'Mps2An385' }, (i) => i % 4 === 0],
    [
      'gateway (status, or spec while unassigned)',
      { gateway: 'gateway-b' },
      (i) => i % 3 === 2 || i % 2 === 0,
    ],
    ['label =', { labelSelector: 'group=lab' }, (i) => i % 2 === 1],
    ['label ==, two requirements', { labelSelector: 'group==field,gpu=yes' }, (i) => i % 10 === 0],
    ['label !=', { labelSelector: 'gpu!=yes' }, (i) => i % 5 !== 0],
    ['label exists', { labelSelector: 'gpu' }, (i) => i % 5 === 0],
    ['label !exists', { labelSelector: '!gpu' }, (i) => i % 5 !== 0],
    ['name prefix', { namePrefix: 'dev-1' }, (i) => i >= 100 && i < 200],
    ['app', { app: 'blinky' }, (i) => i % 4 !== 0],
    ['app and its state', { app: 'blinky', appState: 'Failed' }, (i) => i % 4 === 1],
    [
      'app state and phase',
      { app: 'blinky', appState: 'Running', phase: 'Connected' },
      (i) => i % 4 > 1 && i % 3 === 0,
    ],
    [
      'combined',
      { phase: 'Connected', runtime: 'virtual', namePrefix: 'dev-0' },
      (i) => i < 100 && i % 6 === 0,
    ],
  ];
  it.each(cases)('%s, across pages, and the in-memory pager agrees', async (_label, query, predicate) => {
    const want = expected(predicate);
    expect((await walk({ ...query, limit: 7 })).names).toEqual(want);
    const all = await store.list('Device');
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = pageOf<Device>('Device', all, { ...query, limit: 7, continue: token });
      names.push(...page.items.map((d) => d.metadata.name));
      token = page.metadata.continue;
    } while (token);
    expect(names).toEqual(want);
    const counts = await store.countBy('Device', 'phase', query);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(want.length);
  });

  it('counts by phase, gateway and runtime', async () => {
    expect(await store.countBy('Device', 'phase')).toEqual({ Connected: 84, Provisioning: 83, Failed: 83 });
    // gateway: the status's, or the spec's while there is none (every third device here).
    expect(await store.countBy('Device', 'gateway', { labelSelector: 'group=lab' })).toEqual({
      'gateway-a': 84,
      'gateway-b': 41,
    });
    expect(await store.countBy('Device', 'runtime', { phase: 'Failed' })).toEqual({ virtual: 42, qemu: 41 });
  });

  it('explains a bad label selector', () => {
    // The whole selector is quoted, then what is wrong in it.
    expect(() => parseLabelSelector('group=lab,=x')).toThrow(
      /^labelSelector "group=lab,=x": "=x" is not a requirement: it has no key; use key=value, key!=value, key or !key/,
    );
    expect(() => parseLabelSelector('group=a b')).toThrow(
      /^labelSelector "group=a b": "a b" in "group=a b" is not a label value: use at most 63 letters/,
    );
    // A set-based requirement with its list cut short: it said `"env in (a" is not a requirement`.
    expect(() => parseLabelSelector('env in (a,b')).toThrow(
      'labelSelector "env in (a,b": "env in (…)" is a set-based requirement, which lists do not take ' +
        '(and its "(" is never closed); use key=value, key!=value, key or !key, comma-separated (all must hold)',
    );
    expect(() => parseLabelSelector('group=lab,tier notin (x)')).toThrow(
      /^labelSelector "group=lab,tier notin \(x\)": "tier notin \(…\)" is a set-based requirement, which lists do not take;/,
    );
    expect(() => parseLabelSelector('group=lab,')).toThrow(
      /it has an empty requirement \(a comma too many\?\)/,
    );
    expect(() => parseLabelSelector('!group=lab')).toThrow(
      /"!" goes with a key alone \(!group\), or say group!=…/,
    );
    expect(() => parseLabelSelector('gr oup=lab')).toThrow(/"gr oup" is not a label key/);
    expect(parseLabelSelector(' a = b , !c ')).toEqual([
      { key: 'a', op: '=', value: 'b' },
      { key: 'c', op: '!exists' },
    ]);
  });
});

describe('createMany', () => {
  it('creates all in one go, with increasing resource versions', async () => {
    const created = await store.createMany(
      'Device',
      [1, 2, 3].map((i) => device(i, 'many')),
    );
    expect(created.map((d) => d.metadata.name)).toEqual(['many-001', 'many-002', 'many-003']);
    const versions = created.map((d) => Number(d.metadata.resourceVersion));
    expect(versions[1]).toBe(versions[0]! + 1);
    expect(versions[2]).toBe(versions[0]! + 2);
    expect((await store.get('Device', 'many-002'))?.spec.runtime).toBe('virtual');
  });

  it('creates nothing when one name is taken or repeated', async () => {
    const count = (await store.list('Device')).length + 1; // with the probe
    const before = await store.create('Device', 'probe-1', device(1).spec, device(1).status);
    await expect(store.createMany('Device', [device(7, 'fresh'), device(2, 'many')])).rejects.toThrow(
      AlreadyExistsError,
    );
    await expect(store.createMany('Device', [device(8, 'fresh'), device(8, 'fresh')])).rejects.toThrow(
      /"fresh-008" already exists/,
    );
    expect(await store.list('Device')).toHaveLength(count);
    expect(await store.get('Device', 'fresh-007')).toBeUndefined();
    // Not even a resource version was used up: the next write gets the next one.
    const after = await store.create('Device', 'probe-2', device(1).spec, device(1).status);
    expect(Number(after.metadata.resourceVersion)).toBe(Number(before.metadata.resourceVersion) + 1);
  });
});
