/** A Temporal dev server of a test's own: free ports (API, HTTP, metrics), its log in `home`. */
import path from 'node:path';
import { startDevServer, type DevServer } from '../../temporal/dev-server.js';
import { freePort } from './ports.js';

export async function startOwnDevServer(home: string): Promise<DevServer> {
  return startDevServer({
    port: await freePort(),
    httpPort: await freePort(),
    metricsPort: await freePort(),
    logFile: path.join(home, 'temporal.log'),
  });
}
