/**
 * The orchestrator worker: runs every workflow and the activities that touch the PKI,
 * the store, volumes and emulators, on task queue `wasmbed-orchestrator`.
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
import { openPlatform } from '../platform/context.js';
import { startTelemetry } from '../platform/telemetry.js';
import { ensureDeviceBundle } from '../runtimes/device-bundle.js';
import { dockerOptionsFromEnv } from '../runtimes/docker/options.js';
import { DockerRuntime } from '../runtimes/docker/runtime.js';
import { QemuRuntime, qemuOptionsFromEnv } from '../runtimes/qemu.js';
import { renodeOptionsFromEnv } from '../runtimes/renode/options.js';
import { RenodeRuntime } from '../runtimes/renode/runtime.js';
import { UartFileFollower } from '../runtimes/uart-file-follower.js';
import { DeviceLogs } from '../store/device-logs.js';
import { VirtualRuntime } from '../runtimes/virtual.js';
import { ExternalRuntime } from '../runtimes/external.js';
import { connectClient, connectWorker } from '../temporal/connection.js';
import { ensureWorkflowBundle } from '../temporal/workflow-bundle.js';

const telemetry = await startTelemetry('orchestrator');
const logger = createLogger('orchestrator');
const config = loadConfig();
const platform = await openPlatform(config);
const client = await connectClient(config.temporal, telemetry.tracing?.clientInterceptors);
const connection = await connectWorker(config.temporal);

const deviceBundle = await ensureDeviceBundle();
// docker: DOCKER_HOST and WASMBED_DOCKER_* (runtimes/docker/options.ts); qemu: WASMBED_QEMU_* (runtimes/qemu.ts);
// renode: WASMBED_RENODE_* (runtimes/renode/options.ts), from the image through the same docker runtime.
const deviceLogs = new DeviceLogs(platform.db);
const docker = new DockerRuntime({
  ...dockerOptionsFromEnv(),
  home: config.home,
  deviceBundle,
  logs: deviceLogs,
  logger,
});
// qemu and a local Renode write their UART to a file in the volume; this streams it into the device log.
const uart = new UartFileFollower(deviceLogs, { logger });
const qemu = new QemuRuntime({ ...qemuOptionsFromEnv(), home: config.home, uart });
const renode = new RenodeRuntime({ ...renodeOptionsFromEnv(), home: config.home, docker, uart });
const runtimes = {
  virtual: new VirtualRuntime(config.home, deviceBundle),
  docker,
  qemu,
  renode,
  external: new ExternalRuntime(),
};
// Resume streaming the UART of emulators started by an earlier worker (no engine: nothing to do).
docker.followExistingDevices().catch(() => undefined);
qemu.followRunning();
renode.followRunning();

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
      runtimes,
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
      runtimes,
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
  docker.close();
  uart.close();
  worker.shutdown();
  await running;
  await connection.close();
  await client.connection.close();
  await telemetry.close();
  platform.close();
});
