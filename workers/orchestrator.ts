/**
 * The orchestrator worker: runs every workflow and the activities that touch the PKI and the
 * store, on task queue `wasmbed-orchestrator`, and keeps this machine's device host running
 * (volumes and emulators are the host's, on `wasmbed-host-<id>`).
 */
import { Worker } from '@temporalio/worker';
import { GATEWAY_STALE_MS, ORCHESTRATOR_TASK_QUEUE, loadConfig, paths } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { onShutdown } from '../common/shutdown.js';
import { createApplicationActivities } from '../activities/applications.js';
import { createEnrollmentActivities } from '../activities/enrollment.js';
import { createLifecycleActivities } from '../activities/lifecycle.js';
import { createOrchestratorActivities } from '../activities/orchestrator.js';
import { ModuleStore } from '../store/module-store.js';
import { DeviceHostSupervisor } from '../host/supervisor.js';
import { openPlatform } from '../platform/context.js';
import { ensureDeviceBundle } from '../runtimes/device-bundle.js';
import { dockerOptionsFromEnv } from '../runtimes/docker/options.js';
import { DockerRuntime } from '../runtimes/docker/runtime.js';
import { ExternalRuntime } from '../runtimes/external.js';
import { QemuRuntime, qemuOptionsFromEnv } from '../runtimes/qemu.js';
import { renodeOptionsFromEnv } from '../runtimes/renode/options.js';
import { RenodeRuntime } from '../runtimes/renode/runtime.js';
import { UartFileFollower } from '../runtimes/uart-file-follower.js';
import { VirtualRuntime } from '../runtimes/virtual.js';
import { DeviceLogs } from '../store/device-logs.js';
import { startTelemetry } from '../platform/telemetry.js';
import { connectClient, connectWorker } from '../temporal/connection.js';
import { ensureWorkflowBundle } from '../temporal/workflow-bundle.js';

const telemetry = await startTelemetry('orchestrator');
const logger = createLogger('orchestrator');
const config = loadConfig();
const platform = await openPlatform(config);
const client = await connectClient(config.temporal, telemetry.tracing?.clientInterceptors);
const connection = await connectWorker(config.temporal);

// This machine's device host runs the devices (and their runtime activities, on its own task
// queue): adopt the one that runs, or start it, and restart it if it dies.
const hostSupervisor = new DeviceHostSupervisor({
  home: config.home,
  hostId: config.host.id,
  env: process.env,
  logger,
});
hostSupervisor.start();

// Device keys live in the volumes, made by each runtime (issueCertificate reads the public key);
// everything else these runtimes do runs in the device host.
const deviceBundle = await ensureDeviceBundle();
const deviceLogs = new DeviceLogs(platform.db);
const docker = new DockerRuntime({
  ...dockerOptionsFromEnv(),
  home: config.home,
  deviceBundle,
  logs: deviceLogs,
  logger,
});
const uart = new UartFileFollower(deviceLogs, { logger });
const keyRuntimes = {
  virtual: new VirtualRuntime(config.home, deviceBundle),
  docker,
  qemu: new QemuRuntime({ ...qemuOptionsFromEnv(), home: config.home, uart }),
  renode: new RenodeRuntime({ ...renodeOptionsFromEnv(), home: config.home, docker, uart }),
  external: new ExternalRuntime(),
};

const worker = await Worker.create({
  connection,
  namespace: config.temporal.namespace,
  taskQueue: ORCHESTRATOR_TASK_QUEUE,
  workflowBundle: await ensureWorkflowBundle({ traced: Boolean(telemetry.tracing) }),
  ...telemetry.workerOptions(),
  activities: {
    ...createApplicationActivities({
      store: platform.store,
      modules: new ModuleStore(paths.modules(config.home)),
    }),
    ...createOrchestratorActivities({
      store: platform.store,
      certificates: platform.certificates,
      caPem: platform.ca.certPem,
      hostId: config.host.id,
      runtimes: keyRuntimes,
      client,
      logger,
      gatewayStaleMs: GATEWAY_STALE_MS,
      lifecycle: config.lifecycle,
    }),
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
    }),
  },
});
const running = worker.run();
logger.info('orchestrator worker ready', { taskQueue: ORCHESTRATOR_TASK_QUEUE, home: config.home });

onShutdown(async () => {
  hostSupervisor.stop();
  docker.close();
  uart.close();
  worker.shutdown();
  await running;
  await connection.close();
  await client.connection.close();
  await telemetry.close();
  platform.close();
});
