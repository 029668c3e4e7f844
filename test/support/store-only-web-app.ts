/**
 * The web app over a SQLite store and nothing else, for tests and page benchmarks of what the
 * views render: no Temporal client (listing, reading and rendering never use it), modules and
 * logs beside the database in `home`.
 */
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { ApplicationService } from '../../services/application-service.js';
import { DeviceService } from '../../services/device-service.js';
import { FileModuleStore } from '../../store/file-module-store.js';
import { SqliteDeviceLogs } from '../../store/sqlite-device-logs.js';
import type { SqliteResourceStore } from '../../store/sqlite-resource-store.js';
import { openDatabase } from '../../store/sqlite.js';
import { createWebApp, type WebApp, type WebAppOptions } from '../../web/app.js';

export function storeOnlyWebApp(
  home: string,
  dbFile: string,
  store: SqliteResourceStore,
  live: Pick<WebAppOptions, 'liveIntervalMs' | 'liveMaxIdleMs'> = {},
): WebApp {
  const noTemporal = {} as Client;
  return createWebApp({
    devices: new DeviceService(store, noTemporal),
    applications: new ApplicationService(store, new FileModuleStore(path.join(home, 'modules')), noTemporal),
    logs: new SqliteDeviceLogs(openDatabase(dbFile)),
    store,
    workflowUrl: (id) => `http://localhost:8233/namespaces/default/workflows/${id}`,
    temporalUiUrl: 'http://localhost:8233',
    health: async () => ({}),
    ...live,
  });
}
