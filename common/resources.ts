/**
 * The resource model of DESIGN.md: the same shape in the local store and as Kubernetes
 * custom resources. Workflow-safe (types and pure functions only).
 */
import type { McuType } from './mcu-profiles.js';
import type { CountOrPercent } from './rollout-count.js';

export const API_VERSION = 'wasmbed.io/v1alpha1';
export const DEFAULT_NAMESPACE = 'default';

export interface ObjectMeta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  uid: string;
  generation: number;
  resourceVersion?: string;
  creationTimestamp: string;
}

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;

export interface Condition {
  type: string;
  status: (typeof CONDITION_STATUSES)[number];
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export const DEVICE_RUNTIMES = ['virtual', 'docker', 'renode', 'qemu', 'external'] as const;
export type DeviceRuntime = (typeof DEVICE_RUNTIMES)[number];

export const DEVICE_PHASES = [
  'Pending',
  'Provisioning',
  'Connected',
  'Disconnected',
  'Unreachable',
  'Failed',
  'Deprovisioning',
] as const;
export type DevicePhase = (typeof DEVICE_PHASES)[number];

export interface DeviceSpec {
  mcuType: McuType;
  runtime: DeviceRuntime;
  gateway?: string;
  firmware?: string;
  labels?: Record<string, string>;
  /**
   * Runtime `external` only: how the board gets its certificate. `preauthorized`: created
   * beforehand by an operator, approved at once when it enrolls; `approval`: created by an
   * unknown board's enrollment request, waits for an operator (docs/enrollment.md).
   */
  enrollment?: DeviceEnrollmentMode;
}

export const ENROLLMENT_MODES = ['preauthorized', 'approval'] as const;
export type DeviceEnrollmentMode = (typeof ENROLLMENT_MODES)[number];

export const ENROLLMENT_STATES = [
  'Preauthorized',
  'AwaitingApproval',
  'Approved',
  'Enrolled',
  'Rejected',
] as const;
export type EnrollmentState = (typeof ENROLLMENT_STATES)[number];

/** Where a board's claim-based enrollment stands. */
export interface DeviceEnrollment {
  state: EnrollmentState;
  /** SHA-256 of the CSR's public key (SubjectPublicKeyInfo): what the operator compares with the board. */
  csrFingerprint?: string;
  keyType?: string;
  sourceAddress?: string;
  gateway?: string;
  /** The claim credential the board presented. */
  claim?: string;
  requestedAt?: string;
  decidedAt?: string;
  reason?: string;
  workflowId?: string;
}

export interface DeviceIdentity {
  certSerial: string;
  spkiSha256: string;
  notAfter: string;
}

export const PROVISIONING_STEP_STATES = ['Pending', 'Running', 'Succeeded', 'Failed'] as const;

/** One provisioning step as the dashboard shows it. */
export interface ProvisioningStep {
  name: string;
  state: (typeof PROVISIONING_STEP_STATES)[number];
  message?: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface DeviceStatus {
  phase: DevicePhase;
  gateway?: { name: string; endpoint: string };
  /** The device host that runs its emulator (task queue `wasmbed-host-<host>`). */
  host?: string;
  identity?: DeviceIdentity;
  lastHeartbeat?: string;
  conditions: Condition[];
  steps?: ProvisioningStep[];
  apps: Record<string, unknown>;
  workflowId?: string;
  observedGeneration?: number;
  message?: string;
  /** As the device last reported it: maxAppSize is the largest module its firmware takes. */
  deviceInfo?: { firmwareVersion: string; mcuType: string; freeMemory: number; maxAppSize: number };
  enrollment?: DeviceEnrollment;
}

export interface Resource<Spec, Status> {
  apiVersion: typeof API_VERSION;
  kind: string;
  metadata: ObjectMeta;
  spec: Spec;
  status: Status;
}

export type Device = Resource<DeviceSpec, DeviceStatus> & { kind: 'Device' };

export interface GatewaySpec {
  endpoint: string;
  maxDevices: number;
  heartbeatIntervalSeconds: number;
  heartbeatTimeoutSeconds: number;
}

export const GATEWAY_PHASES = ['Pending', 'Ready', 'Unavailable'] as const;

export interface GatewayStatus {
  phase: (typeof GATEWAY_PHASES)[number];
  connectedDevices: number;
  conditions: Condition[];
  lastSeen?: string;
  taskQueue?: string;
  /** host:port of the gateway's health and metrics endpoint, for the dashboard. */
  healthEndpoint?: string;
}

export type Gateway = Resource<GatewaySpec, GatewayStatus> & { kind: 'Gateway' };

export const APPLICATION_PHASES = [
  'Pending',
  'Deploying',
  'Running',
  'PartiallyRunning',
  'Failed',
  'RolledBack',
  'Stopped',
] as const;
export type ApplicationPhase = (typeof APPLICATION_PHASES)[number];

export const ROLLOUT_STRATEGIES = ['AllAtOnce', 'Rolling', 'Canary'] as const;
export type RolloutStrategyType = (typeof ROLLOUT_STRATEGIES)[number];

export interface ApplicationSpec {
  /** The module by reference: its content hash in the module store, and its size. */
  module: { sha256: string; size: number };
  entry: string;
  target: { devices?: string[]; selector?: Record<string, string>; all?: boolean };
  strategy: {
    type: RolloutStrategyType;
    /** Rolling, and Canary after its first wave: devices updated at once, or a percentage of them. */
    maxUnavailable: CountOrPercent;
    /** Canary: devices in the first wave, or a percentage of them. */
    canary: CountOrPercent;
    /** Canary: wait for a `promote` signal after the first wave. */
    pauseAfterCanary: boolean;
    /** Failed devices tolerated before the rollout stops and rolls back. */
    failureThreshold: number;
  };
  limits: { memoryPages: number; cpuMsPerCall: number | null };
  env: Record<string, string>;
  args: string[];
}

export const APP_DEVICE_STATES = [
  'Pending',
  'Deploying',
  'Running',
  'Exited',
  'Failed',
  'Stopped',
  'RolledBack',
] as const;

/** Per-device state of an application, as the device reports it. */
export interface AppDeviceState {
  state: (typeof APP_DEVICE_STATES)[number];
  error?: string | null;
  restarts: number;
  since: string;
  /**
   * The rollout in progress has not reached this device yet: `state` (with its error and
   * restarts) is that of what the device ran before — the previous version, or Pending when it had
   * nothing — and the Application's `awaitingPromotion` says whether it waits for a promote or
   * only for its wave. Set only during a rollout (common/application-status.ts).
   */
  awaitingRollout?: boolean;
}

/**
 * A module with the settings it was deployed with (common/app-version.ts). The settings are
 * optional only for statuses written before they were kept.
 */
export interface DeployedVersion {
  sha256: string;
  size: number;
  entry?: string;
  env?: Record<string, string>;
  args?: string[];
  limits?: ApplicationSpec['limits'];
}

/**
 * Which writer starts the rollout of a generation (services/rollout-claim.ts): moved to the
 * generation by a compare-and-swap status write; `at` starts its lease.
 */
export interface RolloutClaim {
  generation: number;
  holder: string;
  at: string;
}

export interface ApplicationStatus {
  phase: ApplicationPhase;
  /** The version the last finished rollout (or rollback) put on the devices. */
  currentModule?: DeployedVersion;
  /** What an update replaced: a failing rollout of the new version rolls back to this one. */
  previousModule?: DeployedVersion;
  devices: Record<string, AppDeviceState>;
  counts: { targeted: number; running: number; failed: number; pending: number };
  workflowId?: string;
  message?: string;
  /** Canary paused after its first wave (pauseAfterCanary): waiting for promote or abort. */
  awaitingPromotion?: boolean;
  observedGeneration?: number;
  /** The writer that started (or is starting) the rollout of the newest generation. */
  rolloutClaim?: RolloutClaim;
  /**
   * Kubernetes mode: the module an Application CR's `spec.module` source (a ConfigMap key, or
   * a sha256 without size) resolved to, written by the controller before it starts the rollout.
   */
  resolvedModule?: { sha256: string; size: number };
  /** Kubernetes mode: `Reconciled` (controller). */
  conditions?: Condition[];
}

export type Application = Resource<ApplicationSpec, ApplicationStatus> & { kind: 'Application' };

export interface KindMap {
  Device: Device;
  Gateway: Gateway;
  Application: Application;
}
export type ResourceKind = keyof KindMap;
export type AnyResource = KindMap[ResourceKind];
