/**
 * The gateway process: mutual-TLS server for devices, health/metrics endpoint, and a
 * Temporal worker on `wasmbed-gateway-<name>` for activities that need a device session.
 */
import { Worker } from '@temporalio/worker';
import { gatewayTaskQueue, isLoopbackHost, loadConfig } from '../common/config.js';
import { listen } from '../common/http-server.js';
import { createLogger } from '../common/logger.js';
import { shutdownWorker } from '../temporal/worker-shutdown.js';
import { onShutdown } from '../common/shutdown.js';
import { openPlatform } from '../platform/context.js';
import { startTelemetry } from '../platform/telemetry.js';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { clientOver, connectWorker } from '../temporal/connection.js';
import { workflowHandle } from '../temporal/workflow-calls.js';
import {
  connectedSignal,
  deviceLifecycleWorkflow,
  disconnectedSignal,
  lifecycleWorkflowId,
} from '../workflows/contracts/index.js';
import { createGatewayActivities } from './activities.js';
import { createDeviceEventHandler } from './device-events.js';
import { createGatewayEnrollment } from './enrollment.js';
import { gatewayCertificateNames } from './certificate-names.js';
import { currentCertificateCheck } from './current-certificate.js';
import { DeviceServer } from './device-server.js';
import { deviceStatusWrites } from './device-status-writes.js';
import { assertGatewayNameFree } from './name-in-use.js';
import { createHealthServer } from './health.js';
import { SessionRegistry } from './session-registry.js';
import { recordSessionStatus } from './session-status.js';
import { describeUnwritten } from './status-writes.js';
import { settledBy } from '../common/deadline.js';

const telemetry = await startTelemetry('gateway');
const logger = createLogger('gateway');
const config = loadConfig();
const { name } = config.gateway;
const platform = await openPlatform(config);
const { store } = platform;
/** How often the gateway registers itself (its Gateway resource's lastSeen). */
const REPORT_INTERVAL_MS = 2000;
/**
 * How long a shutdown waits for the store (its own status, the device and app status writes it
 * keeps for an outage). A store that is down does not answer at all — each PostgreSQL try takes
 * the pool's 10 s — and a shutdown (a rolling update, SIGTERM before SIGKILL) must end: what is
 * not written by then is named in the log.
 */
const SHUTDOWN_STORE_WAIT_MS = 3000;
// Before it listens or polls its task queue: a second gateway under a live one's name (another
// machine left on the default name) would take over its record and half its session work.
await assertGatewayNameFree(store, name, { reportIntervalMs: REPORT_INTERVAL_MS });

if (!isLoopbackHost(config.gateway.healthHost) && !config.web.apiToken) {
  logger.warn('health endpoint listens beyond localhost; it exposes only read-only status');
}

const serverCert = platform.ca.issueServerCertificate({
  commonName: `gateway-${name}`,
  ...gatewayCertificateNames(config.gateway.endpoint, process.env),
});

const registry = new SessionRegistry();
/**
 * The gateway's Device status writes: in the background (the TLS sessions never wait for them),
 * one at a time per device, and kept through a store outage until the store takes them
 * (status-writes.ts). A write refused for another reason is logged and dropped.
 */
const deviceStatus = deviceStatusWrites({ store, logger });
// A session's up and down, its heartbeats (at most one write per heartbeat timeout) and DeviceInfo.
const sessionStatus = recordSessionStatus({
  gatewayName: name,
  registry,
  change: deviceStatus.change,
  heartbeatWriteIntervalMs: config.gateway.heartbeatTimeoutMs,
});

const taskQueue = gatewayTaskQueue(name);
const connection = await connectWorker(config.temporal);
const signals = clientOver(connection, config.temporal, telemetry.tracing?.clientInterceptors);
const enrollment = createGatewayEnrollment({
  claims: platform.claims,
  claimCaPem: platform.claimCa.certPem,
  client: signals,
  gatewayName: name,
  taskQueue,
  approvalTimeoutMs: config.enrollment.approvalTimeoutMs,
  reconnectTimeoutMs: config.enrollment.reconnectTimeoutMs,
  logger,
});

// What devices report on their own (app logs, publishes and app states).
const deviceEvents = createDeviceEventHandler({ store, logs: platform.logs, logger, deviceStatus });
/** Resources whose status changes the store has not taken yet (a gauge; non-zero in a store outage). */
const statusWritesPending = () => deviceStatus.pending + deviceEvents.applications.pending;
const deviceServer = new DeviceServer({
  tls: { certPem: serverCert.certPem, keyPem: serverCert.keyPem!, caPem: platform.ca.certPem },
  registry,
  isCurrentCertificate: currentCertificateCheck(platform.certificates),
  heartbeatIntervalMs: config.gateway.heartbeatIntervalMs,
  heartbeatTimeoutMs: config.gateway.heartbeatTimeoutMs,
  limits: Object.fromEntries(Object.entries(config.gateway.limits).filter(([, v]) => v !== undefined)),
  logger,
  enrollment,
  onDeviceMessage: deviceEvents,
  ...sessionStatus,
});
// Tell each device's lifecycle workflow; a device without one (still provisioning) is skipped.
const signalLifecycle = <Args extends unknown[]>(
  device: string,
  signal: SignalDefinition<Args>,
  ...args: Args
) => {
  workflowHandle(signals, deviceLifecycleWorkflow, lifecycleWorkflowId(device))
    .signal(signal, ...args)
    .catch((err: unknown) => {
      if (!(err instanceof WorkflowNotFoundError))
        logger.warn('lifecycle signal failed', { device, signal: signal.name, error: String(err) });
    });
};
registry.on('up', (session) => signalLifecycle(session.info.device, connectedSignal, { gateway: name }));
registry.on('down', (session, reason) =>
  signalLifecycle(session.info.device, disconnectedSignal, { gateway: name, reason }),
);
/** Sessions this gateway accepts; published on its Gateway resource and as a metric. */
const MAX_DEVICES = 10_000;
deviceServer.metrics.registry.setDefaultLabels({ gateway: name });
deviceServer.metrics.readGaugesFrom(() => ({
  sessions: registry.size,
  handshakesInFlight: deviceServer.inFlightHandshakes,
  framesOut: deviceServer.framesOut,
  maxDevices: MAX_DEVICES,
  statusWritesPending: statusWritesPending(),
  deviceLogLinesPending: deviceEvents.logLines.pending,
  deviceLogLinesDropped: deviceEvents.logLines.dropped,
}));

const tlsPort = await deviceServer.listen(config.gateway.host, config.gateway.port);
let ready = false;
const health = createHealthServer({
  gatewayName: name,
  registry,
  deviceServer,
  isReady: () => ready,
  statusWrites: () => ({
    pending: statusWritesPending(),
    storeUnavailable: deviceStatus.storeUnavailable || deviceEvents.applications.storeUnavailable,
  }),
  deviceLogLines: () => ({ pending: deviceEvents.logLines.pending, dropped: deviceEvents.logLines.dropped }),
});
const healthPort = await listen(health, config.gateway.healthHost, config.gateway.healthPort);

const reportStatus = (phase: 'Ready' | 'Unavailable') =>
  store.upsert(
    'Gateway',

    name,
    {
      endpoint: config.gateway.endpoint,
      maxDevices: MAX_DEVICES,
      heartbeatIntervalSeconds: config.gateway.heartbeatIntervalMs / 1000,
      heartbeatTimeoutSeconds: config.gateway.heartbeatTimeoutMs / 1000,
    },
    {
      phase,
      connectedDevices: registry.size,
      conditions: [],
      lastSeen: new Date().toISOString(),
      taskQueue,
      healthEndpoint: `${config.gateway.healthHost}:${healthPort}`,
    },
  );

const worker = await Worker.create({
  connection,
  namespace: config.temporal.namespace,
  taskQueue,
  activities: createGatewayActivities({
    gatewayName: name,
    registry,
    modules: platform.modules,
    enrollment,
  }),
  // Its activities wait on device sessions (a recovery's awaitDeviceSession, a rollout's
  // batch): the SDK's default of 100 at once left the rest of a 500-device recovery queued
  // past their schedule-to-start timeout, each a failed attempt and a backoff.
  maxConcurrentActivityTaskExecutions: 2000,
  ...telemetry.workerOptions(),
});
const running = worker.run();
ready = true;
// A store outage (e.g. the Kubernetes API) must not take the gateway and its sessions down;
// a report still under way when the next is due is not doubled.
let reporting: Promise<unknown> | undefined;
const reportReady = () => {
  reporting ??= reportStatus('Ready')
    .catch((err: unknown) => logger.warn('could not report gateway status', { error: String(err) }))
    .finally(() => (reporting = undefined));
};
reportReady();
const statusTimer = setInterval(reportReady, REPORT_INTERVAL_MS);
logger.info('gateway ready', { name, tlsPort, healthPort, endpoint: config.gateway.endpoint, taskQueue });

onShutdown(async () => {
  clearInterval(statusTimer);
  ready = false;
  const storeDeadline = Date.now() + SHUTDOWN_STORE_WAIT_MS;
  const storeDown = () => deviceStatus.storeUnavailable || deviceEvents.applications.storeUnavailable;
  // (With the store known to be down, no try to say Unavailable: its lastSeen stops moving anyway,
  // which is what another gateway taking the name waits for, gateway/name-in-use.ts.)
  if (reporting) await settledBy(reporting, storeDeadline);
  let saidUnavailable = false;
  if (!storeDown())
    await settledBy(
      reportStatus('Unavailable').then(
        () => (saidUnavailable = true),
        () => {}, // named below with the rest
      ),
      storeDeadline,
    );
  shutdownWorker(worker);
  await Promise.allSettled([running, deviceServer.close()]);
  // What the store has not taken by now is lost with the process: say what it was. (Side by side:
  // they share the deadline, and the log lines' flush must not use up the status writes' time.)
  const [events, deviceWrites] = await Promise.all([
    deviceEvents.flush(storeDeadline),
    deviceStatus.flush(storeDeadline),
  ]);
  const devices = [...events.Device, ...deviceWrites];
  if (!saidUnavailable || devices.length + events.Application.length > 0)
    logger.warn('status writes not written: the store is unavailable', {
      gateway: saidUnavailable ? undefined : `${name} (phase Unavailable)`,
      devices: describeUnwritten(devices),
      applications: describeUnwritten(events.Application),
    });
  await connection.close(); // the signals client's too
  await telemetry.close();
  await platform.close();
}, logger);
