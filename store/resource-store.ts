/**
 * The resource store: Device, Gateway and Application resources in the shape of DESIGN.md.
 * This is the one interface the activities, the gateway and the web server use; the local
 * SQLite backend is the embedded default. Every call returns a promise: the backends behind it
 * (SQLite in-process, the Kubernetes API, PostgreSQL) are free to do I/O without blocking a thread.
 */
import type { KindMap, ResourceKind } from '../common/resources.js';
import type { FilterField, ListPage, ListQuery } from './list-query.js';

export type SpecOf<K extends ResourceKind> = KindMap[K]['spec'];
export type StatusOf<K extends ResourceKind> = KindMap[K]['status'];

/** One resource of a createMany call. */
export interface NewResource<K extends ResourceKind> {
  name: string;
  spec: SpecOf<K>;
  status: StatusOf<K>;
  labels?: Record<string, string>;
}

/** One change of one resource, as the change feed reports it (Kubernetes watch event types). */
export interface StoreEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  kind: ResourceKind;
  name: string;
}

/** What a watcher wants to hear about: one kind, or one resource of a kind; {} for everything. */
export interface WatchScope {
  kind?: ResourceKind;
  name?: string;
}

/** Whether the event is one the scope asked for. */
export function inScope(scope: WatchScope, event: StoreEvent): boolean {
  return (
    (scope.kind === undefined || scope.kind === event.kind) &&
    (scope.name === undefined || scope.name === event.name)
  );
}

export interface ResourceStore {
  /** Inserts a new resource; throws AlreadyExistsError if the name is taken. */
  create<K extends ResourceKind>(
    kind: K,
    name: string,
    spec: SpecOf<K>,
    status: StatusOf<K>,
    labels?: Record<string, string>,
  ): Promise<KindMap[K]>;
  /** Inserts, or replaces the spec and status of, a resource (gateways registering themselves). */
  upsert<K extends ResourceKind>(
    kind: K,
    name: string,
    spec: SpecOf<K>,
    status: StatusOf<K>,
  ): Promise<KindMap[K]>;
  get<K extends ResourceKind>(kind: K, name: string): Promise<KindMap[K] | undefined>;
  list<K extends ResourceKind>(kind: K): Promise<KindMap[K][]>;
  /** One page of a filtered list in name order, Kubernetes style (store/list-query.ts). */
  listPage<K extends ResourceKind>(kind: K, query?: ListQuery): Promise<ListPage<KindMap[K]>>;
  /** How many resources pass the query's filters, by the value of one filter field (paging ignored). */
  countBy(kind: ResourceKind, field: FilterField, query?: ListQuery): Promise<Record<string, number>>;
  /**
   * Inserts all of them or none: throws AlreadyExistsError naming the first taken name (and
   * creates nothing) if any exists. One transaction where the backend has them.
   */
  createMany<K extends ResourceKind>(kind: K, items: NewResource<K>[]): Promise<KindMap[K][]>;
  /**
   * Read-modify-write of the status in one transaction; throws NotFoundError if absent.
   * `mutate` stays synchronous, a pure function of the status: a backend with optimistic
   * concurrency calls it again on a conflict, with the newer status.
   */
  updateStatus<K extends ResourceKind>(
    kind: K,
    name: string,
    mutate: (status: StatusOf<K>) => StatusOf<K>,
  ): Promise<KindMap[K]>;
  delete(kind: ResourceKind, name: string): Promise<boolean>;

  /** Increases on every write (the resource versions' counter); the contract suite checks it. */
  revision(): Promise<number>;
  /**
   * The change feed: `listener` hears of every write in `scope` made after this call, by any
   * process sharing the store, in the order the writes happened. It is called asynchronously
   * and must not throw. Returns the function that stops it.
   */
  watch(scope: WatchScope, listener: (event: StoreEvent) => void): () => void;
  close(): Promise<void>;
}

/** The change feed's event (the name the PostgreSQL store and the contract suite use). */
export type ResourceEvent = StoreEvent;

/** Every store has a change feed now; kept as a name for the stores written against it. */
export type WatchableResourceStore = ResourceStore;
