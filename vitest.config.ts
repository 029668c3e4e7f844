import { defineConfig } from 'vitest/config';

/**
 * Suites that build or fuzz native code, start a Docker engine or a Kubernetes API server, or kill
 * and recover whole platforms:
 * `npm run test:slow` runs them; `npm test` runs the rest; CI (.ci/run) runs both.
 * WASMBED_SUITES=fast|slow picks one set; unset runs everything.
 */
const SLOW_SUITES = [
  'test/firmware.test.ts',
  'test/kubernetes.test.ts',
  'test/kubernetes-store.test.ts',
  'test/docker-runtime.test.ts',
  // Two Docker engines and two device hosts: a docker device moved off a host killed with SIGKILL.
  'test/docker-fencing.test.ts',
  'test/qemu-runtime.test.ts',
  // Need arm-none-eabi-gcc (a real Cortex-M ELF) and, for renode-docker, the Docker engine.
  'test/renode-runtime.test.ts',
  'test/renode-docker.test.ts',
  // A private Docker engine builds the repository as k8s/Dockerfile's context.
  'test/k8s-image-context.test.ts',
  // Builds the traced workflow bundle (a second webpack run) before its platform starts.
  'test/tracing.test.ts',
  // Kill and restart whole platforms, gateways and workers, and wait out recovery grace periods,
  // heartbeat timeouts and certificate lifetimes: minutes of waiting that keep npm test under 10.
  'test/recovery.test.ts',
  'test/durability.test.ts',
  // npm start's own supervisor: a whole platform started as a user starts it, its dev server killed.
  'test/npm-start.test.ts',
  'test/worker-crash.test.ts',
  'test/rotation.test.ts',
  // Two device hosts and two gateways as separate processes, 40 devices, kill -9 of each.
  'test/many-hosts.test.ts',
  'test/many-hosts-kubernetes.test.ts',
  // kill -9 of the device host while devices are inside provisioning's host child.
  'test/host-killed-during-prepare.test.ts',
  // The whole platform on PostgreSQL, with a database restart in the middle of a provisioning burst.
  'test/postgres-platform.test.ts',
  // A minute each on this machine: a 50-device host with kill -9, every rollout strategy with
  // rollbacks, and board enrollment end to end; here so that npm test stays under 10 minutes.
  'test/device-host.test.ts',
  'test/rollouts.test.ts',
  'test/enrollment.test.ts',
  // A real Prometheus scraping a whole platform, its rules checked with promtool.
  'test/observability.test.ts',
  // Half a minute or more each of waiting on purpose: PostgreSQL stopped past its pool's 10 s
  // retry (store outages, a gateway stopping without its store), a dev server without Wasmbed's
  // search attributes, host steps held to make a long workflow task, and app updates and
  // deployments rolled out and rolled back on a real platform — with them npm test took 10.3
  // minutes of tests alone on this machine (2026-12-04), past its 10 minutes with setup.
  'test/gateway-store-outage.test.ts',
  'test/gateway-shutdown-store-down.test.ts',
  'test/workflow-start-error.test.ts',
  'test/provisioning-task-warning.test.ts',
  'test/app-updates.test.ts',
  'test/applications.test.ts',
];
const suites = process.env.WASMBED_SUITES;

export default defineConfig({
  test: {
    include: suites === 'slow' ? SLOW_SUITES : ['test/**/*.test.ts'],
    exclude: suites === 'fast' ? ['**/node_modules/**', ...SLOW_SUITES] : ['**/node_modules/**'],
    globalSetup: ['test/support/global-setup.ts'],
    // Integration suites start a Temporal server and several processes each; on a
    // 2-core machine running files one at a time is faster and far less flaky.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
