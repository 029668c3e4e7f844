/**
 * The orchestrator worker: runs every workflow and the activities that touch the PKI and the
 * store, on task queue `wasmbed-orchestrator`, and (unless WASMBED_START_HOST=false) keeps this
 * machine's device host running (keys, volumes and emulators are the hosts', on `wasmbed-host-<id>`).
 */
import { Worker } from '@temporalio/worker';
import { GATEWAY_STALE_MS, HOST_STALE_MS, ORCHESTRATOR_TASK_QUEUE, loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { shutdownWorker } from '../temporal/worker-shutdown.js';
import { onShutdown } from '../common/shutdown.js';
import { createApplicationActivities } from '../activities/applications.js';
import { createEnrollmentActivities } from '../activities/enrollment.js';
import { createLifecycleActivities } from '../activities/lifecycle.js';
import { createOrchestratorActivities, orchestratorDepsOf } from '../activities/orchestrator.js';
import { DeviceHostSupervisor } from '../host/supervisor.js';
import { openPlatform } from '../platform/context.js';
import { startTelemetry } from '../platform/telemetry.js';
import { clientOver, connectWorker } from '../temporal/connection.js';
import { ensureSearchAttributes } from '../temporal/search-attribute-registration.js';
import { ensureWorkflowBundle } from '../temporal/workflow-bundle.js';
import { LivenessWatchdog, signalLifecycleCheck } from './liveness-watchdog.js';
import { ModuleCollector } from './module-collector.js';
import { rescueProvisioning } from './provisioning-rescue.js';

const telemetry = await startTelemetry('orchestrator');
const logger = createLogger('orchestrator');
const config = loadConfig();
const platform = await openPlatform(config);
const connection = await connectWorker(config.temporal);
const client = clientOver(connection, config.temporal, telemetry.tracing?.clientInterceptors);
// Every workflow start carries Wasmbed's search attributes; a Temporal the platform did not start
// (TEMPORAL_ADDRESS, shared by several machines) has none until they are added.
const addedAttributes = await ensureSearchAttributes(connection, config.temporal.namespace);
if (addedAttributes.length > 0)
  logger.info('registered search attributes', {
    namespace: config.temporal.namespace,
    added: addedAttributes,
  });

// The device hosts run the devices, their keys and their runtime activities (each on its own
// task queue). With `npm start` this worker keeps this machine's host running (adopts it, or
// starts it and restarts it if it dies); where hosts run on their own (several machines, a
// Kubernetes StatefulSet) WASMBED_START_HOST=false leaves them alone.
const hostSupervisor = config.host.supervised
  ? new DeviceHostSupervisor({ home: config.home, hostId: config.host.id, env: process.env, logger })
  : undefined;
hostSupervisor?.start();

const worker = await Worker.create({
  connection,
  namespace: config.temporal.namespace,
  taskQueue: ORCHESTRATOR_TASK_QUEUE,
  workflowBundle: await ensureWorkflowBundle({ traced: Boolean(telemetry.tracing) }),
  ...telemetry.workerOptions(),
  activities: {
    ...createApplicationActivities({
      store: platform.store,
      modules: platform.modules,
    }),
    ...createOrchestratorActivities(orchestratorDepsOf(platform, config, client, logger)),
    ...createEnrollmentActivities({
      store: platform.store,
      certificates: platform.certificates,
      claims: platform.claims,
      caPem: platform.ca.certPem,
      logger,
    }),
    ...createLifecycleActivities({
      store: platform.store,
      certificates: platform.certificates,
      logger,
      gatewayStaleMs: GATEWAY_STALE_MS,
      heartbeatLostMs: config.gateway.heartbeatTimeoutMs * 2,
      renewBeforeMs: config.certificates.renewBeforeDays * 24 * 3600 * 1000,
      hosts: platform.hosts,
      hostStaleMs: HOST_STALE_MS,
      hostGraceMs: config.host.graceMs,
    }),
  },
});
const running = worker.run();
// Notices a gateway or device host that went silent and asks its devices' lifecycles for a
// check: the lifecycles themselves keep no timer for it.
const watchdog = new LivenessWatchdog({
  store: platform.store,
  hosts: platform.hosts,
  requestCheck: signalLifecycleCheck(client),
  rescueProvisioning: rescueProvisioning(client, logger),
  logger,
  gatewayStaleMs: GATEWAY_STALE_MS,
  hostDeadMs: config.host.graceMs,
});
watchdog.start();
// Uploaded and replaced modules no Application uses any more would otherwise stay for ever.
const moduleCollector = new ModuleCollector({
  store: platform.store,
  modules: platform.modules,
  logger,
  retentionMs: config.moduleRetentionMs,
});
moduleCollector.start();
logger.info('orchestrator worker ready', { taskQueue: ORCHESTRATOR_TASK_QUEUE, home: config.home });

onShutdown(async () => {
  hostSupervisor?.stop();
  await watchdog.stop();
  await moduleCollector.stop();
  shutdownWorker(worker);
  await running;
  await connection.close(); // the client's too
  await telemetry.close();
  await platform.close();
}, logger);
