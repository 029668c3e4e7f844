/** The gateway's health and metrics endpoint (port 8080 by default, loopback only). */
import http from 'node:http';
import { serveMetrics } from '../common/metrics.js';
import type { DeviceServer } from './device-server.js';
import type { SessionRegistry } from './session-registry.js';

export function createHealthServer(deps: {
  gatewayName: string;
  registry: SessionRegistry;
  deviceServer: DeviceServer;
  isReady: () => boolean;
  /** Status writes the store has not taken yet, and whether it is refusing them (an outage). */
  statusWrites?: () => { pending: number; storeUnavailable: boolean };
  /** Device log lines kept for the store, and lost (device-log-writes.ts). */
  deviceLogLines?: () => { pending: number; dropped: number };
}): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/healthz' || url.pathname === '/readyz') {
      const ready = url.pathname === '/healthz' || deps.isReady();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          status: ready ? 'ok' : 'starting',
          gateway: deps.gatewayName,
          sessions: deps.registry.size,
          devices: deps.registry.list().map((s) => s.info.device),
          // Healthy still: the sessions go on and the writes are kept until the store is back.
          ...(deps.statusWrites && { statusWrites: deps.statusWrites() }),
          ...(deps.deviceLogLines && { deviceLogLines: deps.deviceLogLines() }),
        }),
      );
      return;
    }
    if (url.pathname === '/metrics') {
      // Process metrics (CPU, memory, event loop) and the gateway's own.
      void serveMetrics(req, res, [deps.deviceServer.metrics.registry]);
      return;
    }
    res.writeHead(404).end();
  });
}
