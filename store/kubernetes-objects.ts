/**
 * The wasmbed.io custom objects as the API server holds them, and their translation to the
 * store's resources (shared by the Kubernetes store, its cache and the controllers).
 */
export const KUBE_GROUP = 'wasmbed.io';
export const KUBE_VERSION = 'v1alpha1';
export {
  PLURALS,
  WASMBED_FINALIZER,
  defaultStatus,
  fromKube,
  type ApplicationCrModule,
  type KubeObject,
} from './kubernetes-resource-store.js';
