/**
 * Resource store writes per second, SQLite next to PostgreSQL, in one run:
 *
 * - create: new Device resources one by one (what a provisioning burst writes first);
 * - heartbeat: `updateStatus` setting `lastHeartbeat` on one of 1,000 devices, the write a
 *   gateway makes for a heartbeat that is not coalesced — one writer, then 16 at once (several
 *   gateways and activities writing together).
 *
 * SQLite is the platform's file (WAL, synchronous=NORMAL: a commit is not fsynced). PostgreSQL is
 * a throwaway cluster from Debian's packages (test/support/postgres.ts) run with production
 * durability (fsync on, every commit flushed), and with `synchronous_commit=off` (closer to
 * SQLite's setting: a crash of the machine may lose the last commits, never corrupts).
 * Rounds alternate between the backends so they see the same machine load.
 *
 *   npx tsx bench/store-writes.ts [--quick] [--n=2000] [--out=result.json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DeviceStatus } from '../common/resources.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { openPostgresDatabase, type PostgresDatabase } from '../store/postgres/database.js';
import { PostgresResourceStore } from '../store/postgres/resource-store.js';
import { startPostgres, type PostgresServer } from '../test/support/postgres.js';
import { machine, parseArgs, writeOut } from './support/stats.js';

const args = parseArgs();
const n = args.int('n', args.quick ? 300 : 2000);
const DEVICES = 1000;
const ROUNDS = args.quick ? 1 : 3;

/** The two calls measured; both stores have them (SQLite's answer may be synchronous). */
interface Writes {
  create(kind: 'Device', name: string, spec: object, status: object, labels?: object): unknown;
  updateStatus(kind: 'Device', name: string, mutate: (s: DeviceStatus) => DeviceStatus): unknown;
}

interface Backend {
  name: string;
  store: Writes;
  close(): Promise<void>;
}

const spec = { mcuType: 'Stm32F746gDisco', runtime: 'virtual', labels: {} };
const status = { phase: 'Connected', conditions: [], apps: {} };

async function sqlite(): Promise<Backend> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-bench-store-'));
  const store = new SqliteResourceStore(openDatabase(path.join(dir, 'wasmbed.db')));
  return {
    name: 'SQLite (WAL, synchronous=NORMAL)',
    store: store as unknown as Writes,
    async close() {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgres(name: string, settings: Record<string, string>): Promise<Backend> {
  const server: PostgresServer = await startPostgres({
    settings: { fsync: 'on', full_page_writes: 'on', ...settings },
  });
  const db: PostgresDatabase = await openPostgresDatabase(server.url, { maxConnections: 20 });
  const store = await PostgresResourceStore.open(db);
  return {
    name,
    store: store as unknown as Writes,
    async close() {
      await store.close();
      await db.close();
      await server.destroy();
    },
  };
}

/** Runs `count` writes `concurrency` at a time; returns writes per second. */
async function rate(count: number, concurrency: number, write: (i: number) => unknown): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) await write(i);
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

const backends = [
  await sqlite(),
  await postgres('PostgreSQL (fsync on, synchronous_commit on)', {}),
  await postgres('PostgreSQL (synchronous_commit=off)', { synchronous_commit: 'off' }),
];
const startMachine = machine();
const results = new Map<string, Record<string, number[]>>(backends.map((b) => [b.name, {}]));
const record = (backend: Backend, what: string, value: number) =>
  ((results.get(backend.name)![what] ??= []) as number[]).push(value);

// The fleet the heartbeats go to.
for (const backend of backends) {
  for (let i = 0; i < DEVICES; i++) await backend.store.create('Device', `dev-${i}`, spec, status, {});
}

for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? backends : [...backends].reverse();
  for (const backend of order) {
    record(
      backend,
      'create',
      await rate(n, 1, (i) => backend.store.create('Device', `new-${round}-${i}`, spec, status, {})),
    );
    for (const concurrency of [1, 16]) {
      record(
        backend,
        `heartbeat x${concurrency}`,
        await rate(n, concurrency, (i) =>
          backend.store.updateStatus('Device', `dev-${(i * 7919) % DEVICES}`, (s) => ({
            ...s,
            lastHeartbeat: new Date().toISOString(),
          })),
        ),
      );
    }
  }
}
for (const backend of backends) await backend.close();

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const table = [...results].map(([name, measures]) => ({
  backend: name,
  ...Object.fromEntries(Object.entries(measures).map(([what, values]) => [what, Math.round(median(values))])),
}));
const sqliteRow = table[0]!;
console.log(`writes/s, median of ${ROUNDS} round(s) of ${n} writes`);
console.table(table);
for (const row of table.slice(1)) {
  const ratios = Object.entries(row)
    .filter(([k]) => k !== 'backend')
    .map(([k, v]) => `${k} ${(Number(v) / Number((sqliteRow as Record<string, unknown>)[k])).toFixed(2)}x`);
  console.log(`${row.backend} / SQLite: ${ratios.join(', ')}`);
}
writeOut(args.string('out'), { machine: startMachine, n, rounds: ROUNDS, devices: DEVICES, results: table });
