/**
 * The Kubernetes controller process (k8s mode only; `npm start` does not run it):
 * leader election on a Lease, then Device informer → workflows, status back to the CRs.
 *
 * Environment: the usual Temporal settings (TEMPORAL_ADDRESS, ...), WASMBED_NAMESPACE (or
 * POD_NAMESPACE), KUBECONFIG outside a cluster, and
 *   WASMBED_CONTROLLER_ID           leader identity (default: POD_NAME or hostname-pid)
 *   WASMBED_CONTROLLER_RESYNC_MS    periodic resync of every cached Device (default 30000)
 *   WASMBED_LEASE_DURATION_SECONDS  lease duration (default 15; renewed every third of it)
 */
import os from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { onShutdown } from '../common/shutdown.js';
import { connectClient } from '../temporal/connection.js';
import { DeviceController } from './device-controller.js';
import { LeaderElector } from './leader-election.js';

const logger = createLogger('controller');
const config = loadConfig();
const env = process.env;
const namespace = config.store.namespace;
const identity = env.WASMBED_CONTROLLER_ID || env.POD_NAME || `${os.hostname()}-${process.pid}`;
const leaseDurationSeconds = Number(env.WASMBED_LEASE_DURATION_SECONDS || 15);
const resyncMs = Number(env.WASMBED_CONTROLLER_RESYNC_MS || 30_000);

const kc = new KubeConfig();
if (config.store.kubeconfig) kc.loadFromFile(config.store.kubeconfig);
else kc.loadFromDefault();

const client = await connectClient(config.temporal);
const elector = new LeaderElector({
  kc,
  namespace,
  leaseName: 'wasmbed-controller',
  identity,
  leaseDurationSeconds,
  renewMs: Math.max(500, (leaseDurationSeconds * 1000) / 3),
  logger,
});
const running: { controller?: DeviceController } = {};

onShutdown(async () => {
  await running.controller?.stop();
  await elector.release();
  logger.info('controller stopped', { identity, actions: running.controller?.actions });
});

logger.info('controller starting', { identity, namespace, server: kc.getCurrentCluster()?.server });
await elector.acquire(() => {
  // Another replica may already act: stop at once and let the orchestrator restart us.
  logger.error('exiting after losing the lease');
  process.exit(1);
});
const controller = new DeviceController({ kc, client, namespace, resyncMs, logger });
running.controller = controller;
controller.start();
await controller.informer.hasSynced;
logger.info('controller ready', { identity, namespace, devices: controller.informer.cache.size });
