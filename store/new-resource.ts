/** The object every backend stores for a new resource: generation 1, a fresh uid, created now. */
import { randomUUID } from 'node:crypto';
import { API_VERSION, DEFAULT_NAMESPACE, type KindMap, type ResourceKind } from '../common/resources.js';
import type { SpecOf, StatusOf } from './resource-store.js';

export function newResource<K extends ResourceKind>(
  kind: K,
  name: string,
  spec: SpecOf<K>,
  status: StatusOf<K>,
  labels: Record<string, string>,
): KindMap[K] {
  return {
    apiVersion: API_VERSION,
    kind,
    metadata: {
      name,
      namespace: DEFAULT_NAMESPACE,
      labels,
      uid: randomUUID(),
      generation: 1,
      creationTimestamp: new Date().toISOString(),
    },
    spec,
    status,
  } as unknown as KindMap[K];
}
