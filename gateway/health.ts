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
      const s = deps.deviceServer.stats;
      const labels = `{gateway="${deps.gatewayName}"}`;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(
        [
          `# TYPE wasmbed_gateway_sessions gauge`,
          `wasmbed_gateway_sessions${labels} ${deps.registry.size}`,
          `# TYPE wasmbed_gateway_sessions_accepted_total counter`,
          `wasmbed_gateway_sessions_accepted_total${labels} ${s.sessionsAccepted}`,
          `# TYPE wasmbed_gateway_handshakes_rejected_total counter`,
          `wasmbed_gateway_handshakes_rejected_total${labels} ${s.handshakesRejected}`,
          `# TYPE wasmbed_gateway_protocol_errors_total counter`,
          `wasmbed_gateway_protocol_errors_total${labels} ${s.protocolErrors}`,
          `# TYPE wasmbed_gateway_frames_received_total counter`,
          `wasmbed_gateway_frames_received_total${labels} ${s.framesReceived}`,
          '',
        ].join('\n'),
      );
      return;
    }
    res.writeHead(404).end();
  });
}
