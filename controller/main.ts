/**
 * The Kubernetes controller process (k8s mode only; `npm start` does not run it):
 * leader election on a Lease, then Device and Application informers → workflows (through the
 * same services as the REST API), status back to the CRs, and Gateways marked Unavailable when
 * their process stopped registering.
 *
 * Environment: the usual Temporal settings (TEMPORAL_ADDRESS, ...), WASMBED_NAMESPACE (or
 * POD_NAMESPACE), KUBECONFIG outside a cluster, and
 *   WASMBED_CONTROLLER_ID           leader identity (default: POD_NAME or hostname-pid)
 *   WASMBED_CONTROLLER_RESYNC_MS    periodic resync of every cached resource (default 30000)
 *   WASMBED_LEASE_DURATION_SECONDS  lease duration (default 15; renewed every third of it)
 */
import os from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { onShutdown } from '../common/shutdown.js';
import { gauge } from '../common/metrics.js';
import { openModuleStore } from '../platform/context.js';
import { startTelemetry } from '../platform/telemetry.js';
import { KubernetesResourceStore } from '../store/kubernetes-resource-store.js';
import { KubeCache } from '../store/kubernetes-cache.js';
import { connectClient } from '../temporal/connection.js';
import { ApplicationService } from '../services/application-service.js';
import { ApplicationController } from './application-controller.js';
import { DeviceController } from './device-controller.js';
import { GatewayController } from './gateway-controller.js';
import { LeaderElector } from './leader-election.js';

const telemetry = await startTelemetry('controller');
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

// One informer per kind for the whole process, started once this replica leads.
const cache = new KubeCache({ kc, namespace, logger });
const client = await connectClient(config.temporal, telemetry.tracing?.clientInterceptors);
const elector = new LeaderElector({
  kc,
  namespace,
  leaseName: 'wasmbed-controller',
  identity,
  leaseDurationSeconds,
  renewMs: Math.max(500, (leaseDurationSeconds * 1000) / 3),
  logger,
});
const controllers: {
  devices?: DeviceController;
  apps?: ApplicationController;
  gateways?: GatewayController;
} = {};
// Applications go through the REST API's own service: same checks, module store and workflows.
// The store shares the controllers' cache: what the service writes, the next reconcile reads.
const store = new KubernetesResourceStore({ namespace, kubeconfig: config.store.kubeconfig, cache });
// Modules where the web and the worker keep them: PostgreSQL with WASMBED_DATABASE_URL (the
// manifests give this pod no volume it shares), else files under WASMBED_HOME.
const moduleStore = await openModuleStore(config);
const service = new ApplicationService(store, moduleStore.modules, client);

onShutdown(async () => {
  await Promise.all([controllers.devices?.stop(), controllers.apps?.stop(), controllers.gateways?.stop()]);
  await elector.release();
  await store.close();
  await moduleStore.close();
  await cache.stop();
  await telemetry.close();
  logger.info('controller stopped', {
    identity,
    actions: {
      ...controllers.devices?.actions,
      ...controllers.apps?.actions,
      ...controllers.gateways?.actions,
    },
  });
}, logger);

logger.info('controller starting', { identity, namespace, server: kc.getCurrentCluster()?.server });
await elector.acquire(() => {
  // Another replica may already act: stop at once and let the orchestrator restart us.
  logger.error('exiting after losing the lease');
  process.exit(1);
});
controllers.devices = new DeviceController({ kc, client, namespace, cache, resyncMs, logger });
controllers.apps = new ApplicationController({ kc, client, service, namespace, cache, resyncMs, logger });
controllers.gateways = new GatewayController({ kc, namespace, cache, resyncMs, logger });
const all = [controllers.devices, controllers.apps, controllers.gateways];
// What the controllers did since start (provisions and deprovisions started, finalizers removed…).
gauge({
  name: 'wasmbed_controller_actions',
  help: 'Actions taken by the controllers since this replica became leader, by action',
  labelNames: ['controller', 'action'] as const,
  collect() {
    const byController = {
      device: controllers.devices,
      application: controllers.apps,
      gateway: controllers.gateways,
    };
    for (const [controller, c] of Object.entries(byController))
      for (const [action, count] of Object.entries((c?.actions ?? {}) as Record<string, number>))
        this.set({ controller, action }, count);
  },
});
gauge({
  name: 'wasmbed_controller_cached_resources',
  help: 'Resources in the informer caches, by kind',
  labelNames: ['kind'] as const,
  collect() {
    for (const kind of ['Device', 'Application', 'Gateway'] as const) this.set({ kind }, cache.size(kind));
  },
});
await Promise.all(all.map((c) => c.start()));
logger.info('controller ready', {
  identity,
  namespace,
  devices: controllers.devices.cached(),
  applications: controllers.apps.cached(),
  gateways: controllers.gateways.cached(),
});
