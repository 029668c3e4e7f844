/**
 * The web app over a seeded fleet (seeded-fleet.ts) in a fresh temporary home, for the page
 * benchmarks: `store` serves the app, `writer` is a second connection to the same database, as
 * another platform process would write. No Temporal: listing, reading and rendering never use it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteResourceStore } from '../../store/sqlite-resource-store.js';
import { openDatabase } from '../../store/sqlite.js';
import { storeOnlyWebApp } from '../../test/support/store-only-web-app.js';
import { seedFleet } from './seeded-fleet.js';

export async function seededDashboard(options: {
  name: string;
  devices: number;
  /** The live views' tick (default: the web's own, as `npm start` runs it). */
  liveIntervalMs?: number;
  deviceName?: (i: number) => string;
}) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `wasmbed-bench-${options.name}-`));
  const dbFile = path.join(home, 'wasmbed.db');
  const store = new SqliteResourceStore(openDatabase(dbFile));
  const writer = new SqliteResourceStore(openDatabase(dbFile));
  await seedFleet(store, options.devices, undefined, options.deviceName);
  const app = storeOnlyWebApp(
    home,
    dbFile,
    store,
    options.liveIntervalMs === undefined ? {} : { liveIntervalMs: options.liveIntervalMs },
  );
  return { home, store, writer, app };
}
