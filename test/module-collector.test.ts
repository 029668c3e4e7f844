/**
 * The collector of unused modules (workers/module-collector.ts) on a real SQLite store and module
 * files: what an Application names in any of its places stays, as does what was stored within
 * the retention; the rest goes, on its own timer too; a module stored again between the
 * collector's listing and its removal stays; and the retention is read from the environment.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import type { ApplicationSpec, ApplicationStatus } from '../common/resources.js';
import { FileModuleStore } from '../store/file-module-store.js';
import type { ModuleStore, StoredModule } from '../store/module-store.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { ModuleCollector } from '../workers/module-collector.js';
import { waitFor } from './support/wait.js';

const HOUR = 3_600_000;
let dir: string;
let store: SqliteResourceStore;
let modules: FileModuleStore;
const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
const logger: Logger = {
  info: (message, fields) => lines.push({ level: 'info', message, fields }),
  warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
  error: (message, fields) => lines.push({ level: 'error', message, fields }),
  debug: () => {},
};

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-module-gc-'));
  store = new SqliteResourceStore(openDatabase(path.join(dir, 'wasmbed.db')));
  modules = new FileModuleStore(path.join(dir, 'modules'));
  lines.length = 0;
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A distinct (tiny, valid) module per `n`: the header and a custom section holding `n`. */
async function stored(n: number, hoursAgo: number): Promise<string> {
  const bytes = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0, 3, 1, 0x6e, n]);
  const { sha256 } = await modules.put(bytes);
  const at = new Date(Date.now() - hoursAgo * HOUR);
  fs.utimesSync(path.join(modules.dir, `${sha256}.wasm`), at, at);
  return sha256;
}

const ref = (sha256: string) => ({ sha256, size: 13 });
async function application(name: string, spec: string, status: Partial<ApplicationStatus> = {}) {
  await store.create('Application', name, { module: ref(spec) } as ApplicationSpec, {
    phase: 'Running',
    devices: {},
    counts: { targeted: 0, running: 0, failed: 0, pending: 0 },
    ...status,
  });
}

const collector = (retentionMs = 24 * HOUR, moduleStore: ModuleStore = modules, everyMs?: number) =>
  new ModuleCollector({ store, modules: moduleStore, logger, retentionMs, everyMs });
const left = async () => (await modules.list()).map((m) => m.sha256).sort();

describe('ModuleCollector', () => {
  it('keeps every module an Application names and the recently stored, removes the rest', async () => {
    const spec = await stored(1, 48);
    const current = await stored(2, 48);
    const previous = await stored(3, 48);
    const resolved = await stored(4, 48);
    const otherApp = await stored(5, 48);
    const replaced = await stored(6, 48); // an old version no status keeps any more
    const fresh = await stored(7, 1); // uploaded an hour ago for an Application not created yet
    const orphan = await stored(8, 25);
    await application('app', spec, {
      currentModule: ref(current),
      previousModule: ref(previous),
      resolvedModule: ref(resolved),
    });
    await application('other', otherApp);

    const removed = await collector().collect();
    expect(removed.map((m) => m.sha256).sort()).toEqual([replaced, orphan].sort());
    expect(await left()).toEqual([spec, current, previous, resolved, otherApp, fresh].sort());
    // Another pass finds nothing more.
    expect(await collector().collect()).toEqual([]);
    // Once its Application is gone, a module goes with the next pass.
    await store.delete('Application', 'other');
    expect((await collector().collect()).map((m) => m.sha256)).toEqual([otherApp]);
  });

  it('leaves a module that was stored again between its listing and its removal', async () => {
    const taken = await stored(1, 48);
    const unused = await stored(2, 48);
    // The store as the collector sees it, with an Application's deploy storing `taken` again
    // just after the listing: the listing's time is then stale.
    const racing: ModuleStore = {
      put: (bytes) => modules.put(bytes),
      get: (sha256) => modules.get(sha256),
      has: (sha256) => modules.has(sha256),
      list: async () => {
        const listed = await modules.list();
        await new Promise((resolve) => setTimeout(resolve, 10));
        await modules.put(await modules.get(taken));
        return listed;
      },
      remove: (listed: StoredModule) => modules.remove(listed),
    };
    const removed = await collector(24 * HOUR, racing).collect();
    expect(removed.map((m) => m.sha256)).toEqual([unused]);
    expect(await left()).toEqual([taken]);
    expect((await modules.get(taken)).length).toBe(13);
  });

  it('collects on its own timer and logs what it removed', async () => {
    const unused = await stored(1, 2);
    const kept = await stored(2, 2);
    await application('app', kept);
    const running = collector(HOUR, modules, 20);
    running.start();
    try {
      await waitFor('the unused module removed', async () => !(await modules.has(unused)), 10_000);
    } finally {
      await running.stop();
    }
    expect(await left()).toEqual([kept]);
    expect(lines).toContainEqual({
      level: 'info',
      message: 'removed modules no Application uses',
      fields: { modules: [unused], bytes: 13 },
    });
  });
});

describe('WASMBED_MODULE_RETENTION_MS', () => {
  it('defaults to a day and must be a positive number', () => {
    expect(loadConfig({}).moduleRetentionMs).toBe(86_400_000);
    expect(loadConfig({ WASMBED_MODULE_RETENTION_MS: '3000' }).moduleRetentionMs).toBe(3000);
    expect(() => loadConfig({ WASMBED_MODULE_RETENTION_MS: '-1' })).toThrow(/WASMBED_MODULE_RETENTION_MS/);
  });
});
