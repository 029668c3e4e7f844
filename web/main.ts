/** The web process: REST API and dashboard on 127.0.0.1:3000 by default. */
import http from 'node:http';
import { isLoopbackHost, loadConfig } from '../common/config.js';
import { listen } from '../common/http-server.js';
import { createLogger } from '../common/logger.js';
import { onShutdown } from '../common/shutdown.js';
import { openPlatform } from '../platform/context.js';
import { startTelemetry } from '../platform/telemetry.js';
import { registerFleetMetrics } from './fleet-metrics.js';
import { TrendRecorder } from './trends.js';
import { connectClient, workflowUiUrl } from '../temporal/connection.js';
import { createWebApp } from './app.js';
import { checkApiToken } from './api-token.js';
import { errorMessage } from '../common/errors.js';
import { HealthMonitor } from './health.js';
import { ApplicationService } from '../services/application-service.js';
import { provisioningQueue } from '../services/provisioning-queue.js';
import { DeviceService } from '../services/device-service.js';
import { EnrollmentService } from '../services/enrollment-service.js';
import { answerParserErrors } from './http-errors.js';

const logger = createLogger('web');
const config = loadConfig();
if (!isLoopbackHost(config.web.host) && !config.web.apiToken) {
  logger.error(`refusing to listen on ${config.web.host} without WASMBED_API_TOKEN`);
  process.exit(2);
}
try {
  checkApiToken(config.web.apiToken);
} catch (err) {
  logger.error(`refusing to start: ${errorMessage(err)}`);
  process.exit(2);
}
const telemetry = await startTelemetry('web');
const platform = await openPlatform(config);
const client = await connectClient(config.temporal, telemetry.tracing?.clientInterceptors);
registerFleetMetrics(platform.store);
const trends = new TrendRecorder(
  platform.store,
  Number(process.env.WASMBED_TRENDS_INTERVAL_MS || 30_000),
).start();
const ownGateway = config.gateway;
const healthMonitor = new HealthMonitor({
  client,
  namespace: config.temporal.namespace,
  store: platform.store,
  hosts: platform.hosts,
  hostGraceMs: config.host.graceMs,
  // The gateway configured in this environment has a known health port; others may
  // advertise theirs on their Gateway resource (status.healthEndpoint, host:port).
  gatewayHealthUrl: (gateway) => {
    const advertised = gateway.status.healthEndpoint;
    if (advertised) return `http://${advertised}`;
    if (gateway.metadata.name !== ownGateway.name) return undefined;
    const host = ownGateway.healthHost === '0.0.0.0' ? '127.0.0.1' : ownGateway.healthHost;
    return `http://${host.includes(':') ? `[${host}]` : host}:${ownGateway.healthPort}`;
  },
  webMetrics: () => ({ sse_clients: app.live.clientCount }),
});
const app = createWebApp({
  client,
  healthMonitor,
  devices: new DeviceService(
    platform.store,
    client,
    provisioningQueue({ store: platform.store, hosts: platform.hosts, hostGraceMs: config.host.graceMs }),
  ),
  enrollments: new EnrollmentService(platform.store, platform.claims, client, platform.ca.certPem),
  applications: new ApplicationService(platform.store, platform.modules, client),
  logs: platform.logs,
  store: platform.store,
  trends,
  requestTracing: telemetry.tracing?.requestSpans,
  apiToken: config.web.apiToken,
  workflowUrl: (id) => workflowUiUrl(config.temporal, id),
  temporalUiUrl: config.temporal.uiUrl,
  health: async () => {
    try {
      await client.workflowService.getSystemInfo({});
      return { temporal: 'reachable' };
    } catch {
      return { temporal: 'unreachable' };
    }
  },
});
healthMonitor.start();
const server = http.createServer(app);
answerParserErrors(server);
const port = await listen(server, config.web.host, config.web.port);
logger.info(`dashboard on http://${config.web.host}:${port}`);

onShutdown(async () => {
  healthMonitor.stop();
  trends.stop();
  app.shutdown();
  server.close();
  server.closeAllConnections();
  await client.connection.close();
  await telemetry.close();
  await platform.close();
}, logger);
