/**
 * The wasmbed.io custom objects as the API server holds them, and their translation to the
 * store's resources: shared by the Kubernetes store (store/kubernetes-resource-store.ts), its
 * informer cache (store/kubernetes-cache.ts) and the controllers (controller/).
 */
import { WasmbedError } from '../common/errors.js';
import {
  API_VERSION,
  type ApplicationSpec,
  type ApplicationStatus,
  type KindMap,
  type ObjectMeta,
  type ResourceKind,
} from '../common/resources.js';
import type { StatusOf } from './resource-store.js';

export const KUBE_GROUP = 'wasmbed.io';
export const KUBE_VERSION = 'v1alpha1';
export const WASMBED_FINALIZER = 'wasmbed.io/deprovision';
export const PLURALS: Record<ResourceKind, string> = {
  Device: 'devices',
  Gateway: 'gateways',
  Application: 'applications',
};

/** The status a resource has before anything wrote one (e.g. just applied with kubectl). */
export function defaultStatus<K extends ResourceKind>(kind: K): StatusOf<K> {
  const byKind: { [k in ResourceKind]: StatusOf<k> } = {
    Device: { phase: 'Pending', conditions: [], apps: {} },
    Gateway: { phase: 'Pending', connectedDevices: 0, conditions: [] },
    Application: {
      phase: 'Pending',
      devices: {},
      counts: { targeted: 0, running: 0, failed: 0, pending: 0 },
    },
  };
  return byKind[kind] as StatusOf<K>;
}

/** A custom object as the API server returns it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    uid: string;
    generation?: number;
    resourceVersion: string;
    creationTimestamp: string;
    deletionTimestamp?: string;
    finalizers?: string[];
  };
  spec?: unknown;
  status?: unknown;
}

/** The store's view of a custom object: defaults filled in, extra metadata kept. */
export function fromKube<K extends ResourceKind>(kind: K, obj: KubeObject): KindMap[K] {
  const m = obj.metadata;
  const metadata: ObjectMeta & { deletionTimestamp?: string; finalizers?: string[] } = {
    name: m.name,
    namespace: m.namespace,
    labels: m.labels ?? {},
    uid: m.uid,
    generation: m.generation ?? 1,
    resourceVersion: m.resourceVersion,
    creationTimestamp: m.creationTimestamp,
    ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    ...(m.finalizers?.length ? { finalizers: m.finalizers } : {}),
  };
  const status = { ...defaultStatus(kind), ...((obj.status as object | undefined) ?? {}) };
  let spec = obj.spec ?? {};
  if (kind === 'Application')
    spec = withResolvedModule(spec as ApplicationCrSpec, status as ApplicationStatus);
  return { apiVersion: API_VERSION, kind, metadata, spec, status } as unknown as KindMap[K];
}

/** An Application CR's spec.module: an uploaded module's hash, or a ConfigMap key (docs/kubernetes.md). */
export interface ApplicationCrModule {
  sha256?: string;
  size?: number;
  configMapKeyRef?: { name: string; key: string };
}
type ApplicationCrSpec = Omit<ApplicationSpec, 'module'> & { module?: ApplicationCrModule };

/**
 * The rest of the platform knows one form of spec.module, {sha256, size}. An Application CR
 * may name a ConfigMap key instead (or leave out the size); once the controller resolved it
 * (status.resolvedModule) the store shows the resolved reference, so activities, workflows and
 * the dashboard read CRs and REST-created Applications alike. Until then the source is shown.
 * The one field the CRD cannot default, limits.cpuMsPerCall (null: no limit), is filled in.
 */
function withResolvedModule(spec: ApplicationCrSpec, status: ApplicationStatus): ApplicationCrSpec {
  const resolved = status.resolvedModule;
  const source = spec.module ?? {};
  const limits = spec.limits
    ? { ...spec.limits, cpuMsPerCall: spec.limits.cpuMsPerCall ?? null }
    : spec.limits;
  if (!resolved || (source.sha256 !== undefined && source.sha256 !== resolved.sha256)) {
    return { ...spec, limits };
  }
  return { ...spec, limits, module: { sha256: resolved.sha256, size: resolved.size } };
}

export class KubernetesApiError extends WasmbedError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super('KubernetesApiError', `Kubernetes API: ${message} (HTTP ${status || 'error'})`);
  }
}
