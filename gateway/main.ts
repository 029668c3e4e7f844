/**
 * The gateway process: mutual-TLS server for devices, health/metrics endpoint, and a
 * Temporal worker on `wasmbed-gateway-<name>` for activities that need a device session.
 */
import { Worker } from '@temporalio/worker';
import { gatewayTaskQueue, isLoopbackHost, loadConfig } from '../common/config.js';
import { NotFoundError } from '../common/errors.js';
import type { DeviceStatus } from '../common/resources.js';
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
import { deviceWriteOrder } from './device-write-order.js';
import { assertGatewayNameFree } from './name-in-use.js';
import { coalescedHeartbeatWrites } from './heartbeat-writes.js';
import { createHealthServer } from './health.js';
import { SessionRegistry } from './session-registry.js';

const telemetry = await startTelemetry('gateway');
const logger = createLogger('gateway');
const config = loadConfig();
const { name } = config.gateway;
const platform = await openPlatform(config);
const { store } = platform;
/** How often the gateway registers itself (its Gateway resource's lastSeen). */
const REPORT_INTERVAL_MS = 2000;
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
/** Each device's status writes in the order they were started (a session's down and up alike). */
const deviceWrites = deviceWriteOrder();
/**
 * Session events write to the store in the background: the TLS sessions never wait for it. A
 * failed write is logged, never thrown; the promise tells the heartbeat path when it is done.
 */
const updateDevice = (device: string, mutate: (status: DeviceStatus) => DeviceStatus): Promise<void> =>
  deviceWrites(device, () => store.updateStatus('Device', device, mutate)).then(
    () => undefined,
    (err: unknown) => {
      if (!(err instanceof NotFoundError))
        logger.warn('device status update failed', { device, error: String(err) });
    },
  );

// Coalesced: at most one durable write of a device's heartbeat per heartbeat timeout (heartbeat-writes.ts).
const heartbeats = coalescedHeartbeatWrites({
  minIntervalMs: config.gateway.heartbeatTimeoutMs,
  write: (device, at) => updateDevice(device, (s) => ({ ...s, lastHeartbeat: at.toISOString() })),
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
const deviceEvents = createDeviceEventHandler({ store, logs: platform.logs, logger, deviceWrites });
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
  onHeartbeat: (session) => heartbeats.heartbeat(session.device, session.lastHeartbeat ?? new Date()),
  onDeviceInfo: (session) =>
    void updateDevice(session.device, (s) => ({
      ...s,
      deviceInfo: session.deviceInfo && {
        firmwareVersion: session.deviceInfo.firmwareVersion,
        mcuType: session.deviceInfo.mcuType,
        freeMemory: session.deviceInfo.freeMemory,
        maxAppSize: session.deviceInfo.maxAppSize,
      },
    })),
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
registry.on('down', (session) => heartbeats.forget(session.info.device));
registry.on(
  'down',
  (session) =>
    void updateDevice(session.info.device, (s) =>
      s.phase === 'Connected' && s.gateway?.name === name ? { ...s, phase: 'Disconnected' } : s,
    ),
);
registry.on(
  'up',
  ({ info }) =>
    void updateDevice(info.device, (s) => {
      // The identity shown is the one the device presented: a device brought back on another host
      // connects with its new key before its lifecycle records it, and Connected with the old
      // key's identity would be a lie.
      // (The session spells its serial as the ledger does, so the same certificate compares equal;
      // a status written when sessions dropped a serial's leading zero gets it back here.)
      const identity =
        s.identity?.certSerial === info.certSerial
          ? s.identity
          : { certSerial: info.certSerial, spkiSha256: info.spkiSha256, notAfter: info.notAfter };
      const back = s.phase === 'Disconnected' || s.phase === 'Unreachable';
      // Back by itself (its recovery ends there): "recovering: …" no longer holds.
      const message = s.phase === 'Unreachable' ? undefined : s.message;
      return { ...s, phase: back ? 'Connected' : s.phase, identity, message };
    }),
);

/** Sessions this gateway accepts; published on its Gateway resource and as a metric. */
const MAX_DEVICES = 10_000;
deviceServer.metrics.registry.setDefaultLabels({ gateway: name });
deviceServer.metrics.readGaugesFrom(() => ({
  sessions: registry.size,
  handshakesInFlight: deviceServer.inFlightHandshakes,
  framesOut: deviceServer.framesOut,
  maxDevices: MAX_DEVICES,
}));

const tlsPort = await deviceServer.listen(config.gateway.host, config.gateway.port);
let ready = false;
const health = createHealthServer({ gatewayName: name, registry, deviceServer, isReady: () => ready });
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
  await reporting;
  await reportStatus('Unavailable').catch((err: unknown) =>
    logger.warn('could not report gateway status', { error: String(err) }),
  );
  shutdownWorker(worker);
  await Promise.allSettled([running, deviceServer.close()]);
  await deviceEvents.flush();
  await connection.close(); // the signals client's too
  await telemetry.close();
  await platform.close();
}, logger);
