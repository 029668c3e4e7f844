/**
 * Process configuration from the environment. Every process reads the same variables so
 * one `.env` (or Kubernetes ConfigMap) configures the whole platform.
 */
import os from 'node:os';
import path from 'node:path';
import { ValidationError } from './errors.js';
import { isDnsLabel } from './names.js';

export { ORCHESTRATOR_TASK_QUEUE, gatewayTaskQueue, hostTaskQueue } from './task-queues.js';
/** How often a device host records that it is alive (store/host-registry.ts). */
export const HOST_HEARTBEAT_MS = 2000;
/** A host not heard from for this long gets no new devices (its own keep theirs until the grace period). */
export const HOST_STALE_MS = 10_000;

/**
 * How the device host runs virtual devices: `thread` (default) runs them all in its own
 * process, each app in a worker thread; `process` starts one detached Node process per
 * device (the strongest isolation, at ~9 MiB each).
 */

export interface TemporalConfig {
  /** host:port of an existing server; undefined means "start the embedded dev server". */
  address?: string;
  namespace: string;
  tls?: { certPath?: string; keyPath?: string; caPath?: string; serverName?: string };
  devServerPort: number;
  /**
   * `npm start`'s dev server log (logs/temporal.log) becomes temporal.log.1 past this many bytes
   * (WASMBED_TEMPORAL_LOG_MAX_BYTES, default 10 MiB, at least 4096).
   */
  devServerLogMaxBytes: number;
  uiPort: number;
  uiUrl: string;
}

export interface WasmbedConfig {
  home: string;
  /** Where resources live (WASMBED_STORE): the local SQLite store, or Kubernetes custom resources. */
  store: StoreConfig;
  /**
   * WASMBED_DATABASE_URL (`postgres://…`): the shared state (resources unless on Kubernetes,
   * certificates, claim credentials, device logs, modules) lives in PostgreSQL instead of the
   * SQLite file under `home`.
   */
  databaseUrl?: string;
  /** Timing of the device lifecycle workflow (recovery). */
  lifecycle: { checkIntervalMs: number; graceMs: number; maxAttempts: number };
  /** Device certificates: lifetime, and how long before expiry they are rotated. */
  certificates: { validityDays: number; renewBeforeDays: number };
  /**
   * A module no Application uses is removed once it was last stored this long ago
   * (WASMBED_MODULE_RETENTION_MS, default a day; workers/module-collector.ts).
   */
  moduleRetentionMs: number;
  temporal: TemporalConfig;
  /** The device host of this machine (host/main.ts). */
  host: {
    id: string;
    /** Where this host keeps its devices' volumes (WASMBED_HOST_DATA_DIR; default WASMBED_HOME). */
    dataDir: string;
    /**
     * A host silent for this long is dead: its devices are brought back on a live host
     * (WASMBED_HOST_GRACE_MS). A host restarted within it resumes its own devices.
     */
    graceMs: number;
    /**
     * A virtual device's UART log (uart.log in its volume) starts anew past this many bytes, the
     * old one kept as uart.log.1 (WASMBED_UART_LOG_MAX_BYTES, default 1 MiB, at least 4096).
     */
    uartLogMaxBytes: number;
    /**
     * The host's own log (logs/host-<id>.log, when its supervisor started it) is copied to
     * host-<id>.log.1 and emptied past this many bytes (WASMBED_HOST_LOG_MAX_BYTES, default
     * 10 MiB, at least 4096).
     */
    logMaxBytes: number;
    /** The orchestrator worker starts and keeps this machine's host (WASMBED_START_HOST, default true). */
    supervised: boolean;
    /**
     * FOR TESTS ONLY (WASMBED_TEST_HOST_STEP_DELAY_MS, default 0): each of provisioning's host
     * steps waits this long after its work, before it completes, so a test can kill the host
     * while devices are inside their host child (test/host-killed-during-prepare.test.ts).
     */
    testStepDelayMs: number;
  };
  web: { host: string; port: number; apiToken?: string };
  gateway: {
    name: string;
    host: string;
    port: number;
    healthHost: string;
    healthPort: number;
    /** The host:port devices dial; never a loopback address inside a cluster. */
    endpoint: string;
    heartbeatIntervalMs: number;
    heartbeatTimeoutMs: number;
    /** Overrides of DEFAULT_GATEWAY_LIMITS (gateway/device-server.ts). */
    limits: {
      maxFrameBytes?: number;
      maxHandshakesInFlight?: number;
      handshakeTimeoutMs?: number;
      helloTimeoutMs?: number;
      framesPerSecond?: number;
    };
  };
  /** Claim-based enrollment (docs/enrollment.md). */
  enrollment: {
    /** How long an unknown device waits for an operator before it is rejected. */
    approvalTimeoutMs: number;
    /** How long an enrolled device has to reconnect with its new certificate. */
    reconnectTimeoutMs: number;
  };
}

// --- Kubernetes mode (issue 6) -------------------------------------------------------------
export type StoreBackend = 'local' | 'kubernetes';
export interface StoreConfig {
  backend: StoreBackend;
  /** Namespace of the custom resources (WASMBED_NAMESPACE, else the pod's namespace, else default). */
  namespace: string;
  /** Path of a kubeconfig file (KUBECONFIG); in a pod the service account is used. */
  kubeconfig?: string;
}

/**
 * A gateway that has not re-registered for this long is gone (it registers every 2 s): no new
 * devices are assigned to it, the dashboard shows it down and the controller marks its
 * Gateway resource Unavailable.
 */
export const GATEWAY_STALE_MS = 10_000;

function storeFromEnv(env: NodeJS.ProcessEnv): StoreConfig {
  const backend = env.WASMBED_STORE || 'local';
  if (backend !== 'local' && backend !== 'kubernetes') {
    throw new ValidationError('WASMBED_STORE', `WASMBED_STORE="${backend}" must be "local" or "kubernetes"`);
  }
  return {
    backend,
    namespace: env.WASMBED_NAMESPACE || env.POD_NAMESPACE || 'default',
    kubeconfig: env.KUBECONFIG || undefined,
  };
}

/** A PostgreSQL connection URL, or undefined; anything else is refused naming the variable. */
function databaseUrlFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const url = env.WASMBED_DATABASE_URL;
  if (url === undefined || url === '') return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') || !parsed.hostname) {
    // The URL may hold a password: name the problem, not the value.
    throw new ValidationError(
      'WASMBED_DATABASE_URL',
      'WASMBED_DATABASE_URL must be a PostgreSQL URL like postgres://user:password@host:5432/database',
    );
  }
  return url;
}

/**
 * The endpoint devices dial. Outside a cluster 127.0.0.1 is right (devices run beside the
 * gateway); inside one (KUBERNETES_SERVICE_HOST is set) a loopback address would send every
 * device to its own pod, so the pod's address is used and a loopback value is refused.
 */
function gatewayEndpointFromEnv(env: NodeJS.ProcessEnv, port: number): string {
  const explicit = env.WASMBED_GATEWAY_ENDPOINT;
  if (!env.KUBERNETES_SERVICE_HOST) return explicit || `127.0.0.1:${port}`;
  const endpoint = explicit || (env.POD_IP ? `${env.POD_IP}:${port}` : '');
  const host = endpoint.replace(/:\d+$/, '');
  if (!endpoint || isHostOnlyAddress(host)) {
    throw new ValidationError(
      'WASMBED_GATEWAY_ENDPOINT',
      `inside a cluster the gateway endpoint must be an address devices can reach (got "${endpoint}"): ` +
        'set WASMBED_GATEWAY_ENDPOINT or POD_IP',
    );
  }
  return endpoint;
}
// --- end Kubernetes mode --------------------------------------------------------------------

/** A host id goes into a task queue name and a process marker: keep it a DNS label. */
function hostIdFromEnv(env: NodeJS.ProcessEnv): string {
  const explicit = env.WASMBED_HOST_ID;
  if (explicit !== undefined && explicit !== '') {
    if (!isDnsLabel(explicit)) {
      throw new ValidationError(
        'WASMBED_HOST_ID',
        `WASMBED_HOST_ID="${explicit}" must be a DNS label (lowercase letters, digits and '-')`,
      );
    }
    return explicit;
  }
  const fromHostname = os
    .hostname()
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
  return fromHostname || 'local';
}

/**
 * Virtual devices run in the device host only: the one-process-per-device mode of earlier
 * versions was removed (it cost 7.5 times the memory and more CPU per device; BENCHMARKS.md). A
 * setting that still asks for it is refused by name rather than ignored.
 */
function refuseVirtualDeviceProcesses(env: NodeJS.ProcessEnv): void {
  const mode = env.WASMBED_VIRTUAL_DEVICES;
  if (mode !== undefined && mode !== '' && mode !== 'thread') {
    throw new ValidationError(
      'WASMBED_VIRTUAL_DEVICES',
      `WASMBED_VIRTUAL_DEVICES="${mode}" is no longer supported: virtual devices run inside the device host; ` +
        'for a process (container) per device use the docker runtime. Unset it.',
    );
  }
}

/** Fractions allowed: short-lived certificates in tests are a fraction of a day. */
function positiveNumberFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new ValidationError(name, `${name}="${raw}" is not a positive number`);
  }
  return value;
}

const MIN_LOG_BYTES = 4096;

/** A log file's size bound: below 4 KiB a file would hold a few lines at most. */
function logMaxBytesFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = intFromEnv(env, name, fallback);
  if (value < MIN_LOG_BYTES) {
    throw new ValidationError(name, `${name}="${env[name]}" must be at least ${MIN_LOG_BYTES} bytes`);
  }
  return value;
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535 * 1000) {
    throw new ValidationError(name, `${name}="${raw}" is not a valid non-negative integer`);
  }
  return value;
}

function booleanFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ValidationError(name, `${name}="${raw}" must be true or false`);
}

function optionalInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  return env[name] ? intFromEnv(env, name, 0) : undefined;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): WasmbedConfig {
  refuseVirtualDeviceProcesses(env);
  const home = path.resolve(env.WASMBED_HOME ?? '.wasmbed');
  const uiPort = intFromEnv(env, 'TEMPORAL_UI_PORT', 8233);
  const gatewayPort = intFromEnv(env, 'WASMBED_GATEWAY_PORT', 8081);
  const tlsCert = env.TEMPORAL_TLS_CERT;
  const tlsCa = env.TEMPORAL_TLS_CA;
  const tlsEnabled = Boolean(tlsCert || tlsCa || env.TEMPORAL_TLS === 'true');
  return {
    home,
    store: storeFromEnv(env),
    databaseUrl: databaseUrlFromEnv(env),
    lifecycle: {
      // The safety net only: gateways and the liveness watchdog signal what they notice at once.
      checkIntervalMs: intFromEnv(env, 'WASMBED_LIFECYCLE_CHECK_MS', 300_000),
      graceMs: intFromEnv(env, 'WASMBED_LIFECYCLE_GRACE_MS', 5_000),
      maxAttempts: intFromEnv(env, 'WASMBED_LIFECYCLE_MAX_ATTEMPTS', 6),
    },
    certificates: {
      validityDays: positiveNumberFromEnv(env, 'WASMBED_CERT_VALIDITY_DAYS', 90),
      renewBeforeDays: positiveNumberFromEnv(env, 'WASMBED_CERT_RENEW_BEFORE_DAYS', 30),
    },
    moduleRetentionMs: positiveNumberFromEnv(env, 'WASMBED_MODULE_RETENTION_MS', 86_400_000),
    enrollment: {
      approvalTimeoutMs: positiveNumberFromEnv(env, 'WASMBED_ENROLLMENT_APPROVAL_TIMEOUT_MS', 86_400_000),
      reconnectTimeoutMs: positiveNumberFromEnv(env, 'WASMBED_ENROLLMENT_RECONNECT_TIMEOUT_MS', 300_000),
    },
    temporal: {
      address: env.TEMPORAL_ADDRESS || undefined,
      namespace: env.TEMPORAL_NAMESPACE || 'default',
      tls: tlsEnabled
        ? {
            certPath: tlsCert,
            keyPath: env.TEMPORAL_TLS_KEY,
            caPath: tlsCa,
            serverName: env.TEMPORAL_TLS_SERVER_NAME,
          }
        : undefined,
      devServerPort: intFromEnv(env, 'TEMPORAL_DEV_PORT', 7233),
      devServerLogMaxBytes: logMaxBytesFromEnv(env, 'WASMBED_TEMPORAL_LOG_MAX_BYTES', 10 * 1024 * 1024),
      uiPort,
      uiUrl: env.TEMPORAL_UI_URL || `http://localhost:${uiPort}`,
    },
    host: {
      id: hostIdFromEnv(env),
      dataDir: path.resolve(env.WASMBED_HOST_DATA_DIR || home),
      graceMs: intFromEnv(env, 'WASMBED_HOST_GRACE_MS', 30_000),
      uartLogMaxBytes: logMaxBytesFromEnv(env, 'WASMBED_UART_LOG_MAX_BYTES', 1024 * 1024),
      logMaxBytes: logMaxBytesFromEnv(env, 'WASMBED_HOST_LOG_MAX_BYTES', 10 * 1024 * 1024),
      supervised: booleanFromEnv(env, 'WASMBED_START_HOST', true),
      testStepDelayMs: intFromEnv(env, 'WASMBED_TEST_HOST_STEP_DELAY_MS', 0),
    },
    web: {
      host: env.WASMBED_WEB_HOST || '127.0.0.1',
      port: intFromEnv(env, 'WASMBED_WEB_PORT', 3000),
      apiToken: env.WASMBED_API_TOKEN || undefined,
    },
    gateway: {
      name: env.WASMBED_GATEWAY_NAME || 'gateway-0',
      host: env.WASMBED_GATEWAY_HOST || '0.0.0.0',
      port: gatewayPort,
      healthHost: env.WASMBED_GATEWAY_HEALTH_HOST || '127.0.0.1',
      healthPort: intFromEnv(env, 'WASMBED_GATEWAY_HEALTH_PORT', 8080),
      endpoint: gatewayEndpointFromEnv(env, gatewayPort),
      heartbeatIntervalMs: intFromEnv(env, 'WASMBED_HEARTBEAT_INTERVAL_MS', 5000),
      heartbeatTimeoutMs: intFromEnv(env, 'WASMBED_HEARTBEAT_TIMEOUT_MS', 15000),
      limits: {
        maxFrameBytes: optionalInt(env, 'WASMBED_GATEWAY_MAX_FRAME_BYTES'),
        maxHandshakesInFlight: optionalInt(env, 'WASMBED_GATEWAY_MAX_HANDSHAKES'),
        handshakeTimeoutMs: optionalInt(env, 'WASMBED_GATEWAY_HANDSHAKE_TIMEOUT_MS'),
        helloTimeoutMs: optionalInt(env, 'WASMBED_GATEWAY_HELLO_TIMEOUT_MS'),
        framesPerSecond: optionalInt(env, 'WASMBED_GATEWAY_FRAMES_PER_SECOND'),
      },
    },
  };
}

export const paths = {
  db: (home: string) => path.join(home, 'wasmbed.db'),
  pki: (home: string) => path.join(home, 'pki'),
  /** The claim CA (signs claim certificates only), apart from the device CA. */
  claimPki: (home: string) => path.join(home, 'pki', 'claim'),
  temporalDb: (home: string) => path.join(home, 'temporal.db'),
  volumes: (home: string) => path.join(home, 'volumes'),
  volume: (home: string, device: string) => path.join(home, 'volumes', device),
  firmware: (home: string) => path.join(home, 'firmware'),
  modules: (home: string) => path.join(home, 'modules'),
  logs: (home: string) => path.join(home, 'logs'),
};

/** Binding beyond loopback exposes the API; refuse to do it without a token. */
const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|::1)$/;

/** 127.0.0.0/8, localhost or ::1: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOST.test(host);
}

/**
 * An address a device in a container, a VM or another machine cannot dial as written: a
 * loopback address, or the wildcard 0.0.0.0 (which means "every interface" only to a listener).
 */
export function isHostOnlyAddress(host: string): boolean {
  return isLoopbackHost(host) || host === '0.0.0.0';
}
