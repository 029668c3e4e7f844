/**
 * The device host: one process per machine that runs the machine's devices — virtual devices
 * in-process, and the docker, qemu and Renode emulators it started — and a Temporal worker on `wasmbed-host-<id>` for their
 * runtime activities (activities/device-runtime.ts) and for provisioning's host steps
 * (workflows/prepare-device-on-host.ts, which runs those activities locally). `npm start` has the orchestrator worker
 * start it detached (host/supervisor.ts), so it outlives the platform's other processes; on
 * several machines (or as a Kubernetes StatefulSet) each host is started on its own with its
 * own WASMBED_HOST_ID and the workers run with WASMBED_START_HOST=false. It records itself
 * alive every HOST_HEARTBEAT_MS (store/host-registry.ts) so devices are placed on it; a
 * restarted host resumes the devices that are still its own, and stops any that were moved to
 * another host while it was away (the fence on status.host).
 *
 *   WASMBED_HOST_ID=<id> node --import tsx host/main.ts      (or: npm run host)
 */
import { parseArgs } from 'node:util';
import { HOST_HEARTBEAT_MS, hostTaskQueue, loadConfig } from '../common/config.js';
import { errorMessage, WasmbedError } from '../common/errors.js';
import type { Device } from '../common/resources.js';
import { startTelemetry } from '../platform/telemetry.js';
import { createLogger } from '../common/logger.js';
import { shutdownWorker } from '../temporal/worker-shutdown.js';
import { onShutdown } from '../common/shutdown.js';
import { createDeviceRuntimeActivities } from '../activities/device-runtime.js';
import { openPlatform } from '../platform/context.js';
import { ensureDeviceBundle } from '../runtimes/device-bundle.js';
import { volumeDevices } from '../runtimes/local-volume.js';
import { dockerOptionsFromEnv, platformIdFor } from '../runtimes/docker/options.js';
import { DockerRuntime } from '../runtimes/docker/runtime.js';
import { ExternalRuntime } from '../runtimes/external.js';
import { QemuRuntime, qemuOptionsFromEnv } from '../runtimes/qemu.js';
import { renodeOptionsFromEnv } from '../runtimes/renode/options.js';
import { RenodeRuntime } from '../runtimes/renode/runtime.js';
import { UartFileFollower } from '../runtimes/uart-file-follower.js';
import { stopLeftoverDeviceProcesses } from '../runtimes/virtual.js';
import { listenControl, type ControlRequest, type HostStatus } from './control.js';
import { HostedVirtualRuntime } from './hosted-virtual-runtime.js';
import { boundLogFile } from './log-file-bound.js';
import { hostLogFile } from './supervisor.js';

const logger = createLogger('host');
/** How far the start got, in ms since the process started: what a restart after kill -9 waits on. */
const startStep = (step: string) =>
  logger.info('host start', { step, sinceProcessStartMs: Math.round(process.uptime() * 1000) });
startStep('modules loaded');
const { values } = parseArgs({
  // (wasmbed-code: the code version its supervisor started it as, host/code-version.ts.)
  options: {
    'wasmbed-host': { type: 'string' },
    home: { type: 'string' },
    'wasmbed-code': { type: 'string' },
  },
});
const config = loadConfig();
const hostId = values['wasmbed-host'] ?? config.host.id;
/** The platform's data (database, CA) and, unless WASMBED_HOST_DATA_DIR says otherwise, the volumes. */
const home = values.home ?? config.home;
const dataDir = config.host.dataDir === config.home ? home : config.host.dataDir;
const logBound = boundLogFile({
  file: hostLogFile(home, hostId),
  maxBytes: config.host.logMaxBytes,
  onError: (err) => logger.warn('could not bound the host log', { error: errorMessage(err) }),
});

// One device fails alone: an error escaping a device's callbacks is logged, not fatal to the
// hundreds of others this process holds.
process.on('uncaughtException', (err) => logger.error('uncaught error', { error: errorMessage(err) }));
process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { error: errorMessage(err) }));

const hosted = new HostedVirtualRuntime(dataDir, hostId, logger, config.host.uartLogMaxBytes);
const control = await listenControl(home, hostId, (request: ControlRequest) => {
  switch (request.op) {
    case 'status':
      return { hostId, pid: process.pid, devices: hosted.running() } satisfies HostStatus;
    case 'powerOff':
      return hosted.powerOff(request.device);
    default:
      throw new WasmbedError('InvalidInput', `unknown op ${(request as { op: unknown }).op}`);
  }
}).catch((err: unknown) => {
  if (err instanceof WasmbedError && err.code === 'HostRunning') {
    logger.info(err.message);
    process.exit(0);
  }
  throw err;
});

startStep('control socket');
const telemetry = await startTelemetry('host');
const platform = await openPlatform({ ...config, home });
const deviceBundle = await ensureDeviceBundle();
const deviceLogs = platform.logs;
// docker: DOCKER_HOST and WASMBED_DOCKER_* (runtimes/docker/options.ts); qemu: WASMBED_QEMU_* (runtimes/qemu.ts);
// renode: WASMBED_RENODE_* (runtimes/renode/options.ts), from the image through the same docker runtime.
const dockerEnv = dockerOptionsFromEnv();
const docker = new DockerRuntime({
  ...dockerEnv,
  home: dataDir,
  // One platform label for all hosts of the platform (not per data dir), so a host that a device
  // moved to may take over its volume and container on an engine the hosts share.
  platformId: dockerEnv.platformId ?? platformIdFor(home),
  hostId,
  deviceBundle,
  logs: deviceLogs,
  logger,
});
// qemu and a local Renode write their UART to a file in the volume; this streams it into the device log.
const uart = new UartFileFollower(deviceLogs, { logger });
const qemu = new QemuRuntime({ ...qemuOptionsFromEnv(), home: dataDir, uart });
const renode = new RenodeRuntime({ ...renodeOptionsFromEnv(), home: dataDir, docker, uart });
const runtimes = { virtual: hosted, docker, qemu, renode, external: new ExternalRuntime() };

/**
 * Set once this process resumed devices of its own at start (it is a restart): their lifecycles
 * then leave them to it for its grace period instead of recovering them beside it.
 */
let restartedAt = 0;
/** Alive: placement sends devices here, and the ones placed here stay while it keeps beating. */
const beat = () =>
  platform.hosts.beat({
    id: hostId,
    lastSeen: Date.now(),
    pid: process.pid,
    devices: runningDevices().length,
    restartedAt,
  });
await beat();
startStep('platform open');

/** The virtual devices running here now. */
function runningDevices(): string[] {
  return hosted.running().map((d) => d.name);
}

/**
 * Whether this host may run the device: it is placed here (status.host) — or has no host
 * recorded, from before hosts were — and still exists. A device moved while this host was
 * away (it was dead for longer than the grace period) runs on its new host now.
 */
function mayRunHere(placed: Device | undefined): boolean {
  return placed !== undefined && (placed.status.host === undefined || placed.status.host === hostId);
}
async function ownsDevice(device: string): Promise<boolean> {
  return mayRunHere(await platform.store.get('Device', device));
}

// What this host ran before it was restarted: virtual devices still placed here boot again
// (after any device process an earlier version's per-process mode left running for them is
// stopped: one device never runs twice); emulators' UART streaming resumes.
const leftovers = await stopLeftoverDeviceProcesses(dataDir);
if (leftovers > 0) logger.warn('stopped device processes left by the per-process mode', { count: leftovers });
{
  // One list read for all of them, before any starts.
  const owned = new Set((await platform.store.list('Device')).filter(mayRunHere).map((d) => d.metadata.name));
  const resumed = await hosted.resumeOwned((device) => owned.has(device));
  logger.info('resumed devices', { count: resumed });
  if (resumed > 0) restartedAt = Math.round(performance.timeOrigin);
  startStep('devices resumed');
}
// Said at once, not at the next heartbeat: the devices' lifecycles ask within seconds.
if (restartedAt > 0) await beat();

/**
 * The fence, checked with every heartbeat: a device running here that was placed on another
 * host (or deleted) is stopped and no longer resumed here — never two copies of one device. Its
 * old certificate was revoked when its new host issued one for its new key, so even a copy
 * caught in between cannot hold a session.
 */
async function fence(): Promise<void> {
  // One paged query for the devices placed here; a point read only for a device not among them.
  const placed = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await platform.store.listPage('Device', { host: hostId, limit: 1000, continue: cursor });
    for (const d of page.items) placed.add(d.metadata.name);
    cursor = page.metadata.continue;
  } while (cursor);
  const placedElsewhere = async (device: string): Promise<boolean> => {
    if (placed.has(device)) return false;
    const current = await platform.store.get('Device', device);
    if (mayRunHere(current)) return false;
    logger.warn('stopping a device placed on another host', {
      device,
      host: current?.status.host ?? null,
    });
    return true;
  };
  for (const device of runningDevices()) {
    if (await placedElsewhere(device)) await runtimes.virtual.stop(device);
  }
  // A container outlives the host that started it (kill -9, a crash): this host's containers of
  // devices placed elsewhere are removed, by id, so another host's container of the device stays.
  for (const { device, id } of await dockerContainers()) {
    if (await placedElsewhere(device)) await docker.removeContainer(device, id);
  }
  // The local emulators (qemu, Renode) this host runs are those whose UART it follows; one of a
  // device moved while this host was silent (frozen, cut off) without restarting is stopped too.
  for (const device of uart.following) {
    if (await placedElsewhere(device)) await stopLocalEmulators(device);
  }
}

/** Stops the device's local qemu or Renode processes (never a container: that may be another host's). */
async function stopLocalEmulators(device: string): Promise<void> {
  for (const emulator of [qemu, renode]) {
    if (emulator.runningPids(device).length > 0) await emulator.stop(device);
  }
  await uart.unfollow(device);
}

/**
 * This host's device containers; none when there is no engine (a host without docker devices).
 * Bounded in time: an engine that does not answer must not hold up the heartbeat behind it.
 */
async function dockerContainers(): Promise<{ device: string; id: string }[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('the docker engine did not answer')), HOST_HEARTBEAT_MS);
  });
  try {
    return await Promise.race([docker.ownContainers(), timeout]);
  } catch (err) {
    logger.debug('no docker engine to fence', { error: errorMessage(err) });
    return [];
  } finally {
    clearTimeout(timer);
  }
}
await fence();
// Local emulators (qemu, Renode) outlive a killed host: those of devices placed on another host
// (or deleted) while it was away are stopped, not adopted. (Its docker containers, Renode's
// included, are fenced above.)
for (const device of volumeDevices(dataDir)) {
  if (await ownsDevice(device)) continue;
  for (const emulator of [qemu, renode]) {
    if (emulator.runningPids(device).length === 0) continue;
    logger.warn('stopping the emulator of a device placed elsewhere', { device, runtime: emulator.kind });
    await stopLocalEmulators(device);
  }
}
// Only now, with the containers and emulators of devices placed elsewhere stopped: volumes no
// device of this host uses (a run moved off it mid-way, or left by an earlier version) go.
await hosted.removeStrayVolumes(ownsDevice);
docker.followExistingDevices().catch(() => undefined);
qemu.followRunning();
renode.followRunning();

const taskQueue = hostTaskQueue(hostId);
// The Temporal SDK is loaded only now, after the devices were resumed: importing it is seconds
// of CPU on a loaded machine, and after kill -9 the devices redial without it.
const [
  { Worker },
  { clientOver, connectWorker },
  { ensureWorkflowBundle },
  { createOrchestratorActivities, orchestratorDepsOf },
] = await Promise.all([
  import('@temporalio/worker'),
  import('../temporal/connection.js'),
  import('../temporal/workflow-bundle.js'),
  import('../activities/orchestrator.js'),
]);
/**
 * A host that cannot start its worker (no TEMPORAL_ADDRESS, Temporal unreachable, a bad namespace)
 * exits 1. The tolerant handlers above only log what escapes, and the Temporal SDK, once loaded,
 * takes SIGINT and SIGTERM to stop workers: without this the process stayed up polling no queue,
 * its control socket answering (so the supervisor adopted it instead of starting a new one) and
 * deaf to SIGTERM.
 */
const failStart = (err: unknown): never => {
  logger.error('device host could not start its worker', { error: errorMessage(err), taskQueue });
  process.exit(1);
};
const connection = await connectWorker(config.temporal).catch(failStart);
// (With tracing's interceptors: the lifecycle that provisioning's startLifecycle starts continues its trace.)
const client = clientOver(connection, config.temporal, telemetry.tracing?.clientInterceptors);
const worker = await Worker.create({
  ...telemetry.workerOptions(),
  connection,
  namespace: config.temporal.namespace,
  taskQueue,
  // Provisioning runs started on this host's queue (services/provisioning-queue.ts) run here with
  // all their steps as local activities — the store's, placement and the host's own — and so does
  // prepareDeviceOnHost (the host's steps of a run that placed its device here from elsewhere).
  workflowBundle: await ensureWorkflowBundle({ traced: Boolean(telemetry.tracing) }),
  activities: {
    ...createOrchestratorActivities(orchestratorDepsOf(platform, config, client, logger)),
    ...createDeviceRuntimeActivities({
      hostId,
      store: platform.store,
      certificates: platform.certificates,
      caPem: platform.ca.certPem,
      runtimes,
      logger,
      testStepDelayMs: config.host.testStepDelayMs,
    }),
  },
  // Runtime steps are short and mostly wait on I/O: a burst of provisioning runs them side by side.
  maxConcurrentActivityTaskExecutions: 200,
  maxConcurrentLocalActivityExecutions: 200,
  // A provisioning run holds its workflow task while its local activities run (all its steps but
  // the session wait): the SDK's default of 40 made a burst of 50 queue behind each other.
  maxConcurrentWorkflowTaskExecutions: 200,
}).catch(failStart);
// A worker that fails later (a fatal error of the SDK's core) ends the host too: the supervisor
// (or the StatefulSet) starts a new one, which resumes the devices.
const running = worker.run().catch((err: unknown) => {
  logger.error('device host worker failed', { error: errorMessage(err), taskQueue });
  process.exit(1);
});
startStep('worker running');
logger.info('device host ready', {
  hostId,
  taskQueue,
  pid: process.pid,
  home,
  dataDir,
  code: values['wasmbed-code'],
});

let beating = Promise.resolve();
const heartbeat = setInterval(() => {
  beating = beating
    .then(beat)
    .then(fence)
    .catch((err: unknown) => logger.warn('host heartbeat failed', { error: errorMessage(err) }));
}, HOST_HEARTBEAT_MS);

onShutdown(async () => {
  clearInterval(heartbeat);
  logBound.stop();
  await beating;
  shutdownWorker(worker);
  await running;
  await hosted.stopAll();
  control.close();
  docker.close();
  uart.close();
  await connection.close(); // the client's too
  await platform.close();
}, logger);
