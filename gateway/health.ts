/** The gateway's health and metrics endpoint (port 8080 by default, loopback only). */
import http from 'node:http';
import type { DeviceServer } from './device-server.js';
import type { SessionRegistry } from './session-registry.js';

export function createHealthServer(deps: {
  gatewayName: string;
  registry: SessionRegistry;
  deviceServer: DeviceServer;
  isReady: () => boolean;
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
        }),
      );
      return;
    }
    if (url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(
        deps.deviceServer.metrics.render(deps.gatewayName, {
          sessions: deps.registry.size,
          handshakesInFlight: deps.deviceServer.inFlightHandshakes,
          framesOut: deps.deviceServer.framesOut,
        }),
      );
      return;
    }
    res.writeHead(404).end();
  });
}
