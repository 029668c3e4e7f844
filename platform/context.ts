/**
 * What every platform process opens first: the stores and the PKI. Which backend keeps what is
 * decided here and nowhere else: one function per backend returns the stores it provides.
 */
import { paths, type WasmbedConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { CertificateAuthority, DeviceCertificates, SqliteCertificateRepository } from '../pki/index.js';
import type { CertificateRepository } from '../pki/certificate-repository.js';
import type { ClaimCredentialStore } from '../pki/claim-credential-store.js';
import { ClaimCredentials } from '../pki/claim-credentials.js';
import { SqliteClaimCredentialStore } from '../pki/sqlite-claim-credential-store.js';
import type { DeviceLogs } from '../store/device-logs.js';
import { FileModuleStore } from '../store/file-module-store.js';
import { SqliteHostRegistry, type HostRegistry } from '../store/host-registry.js';
import type { ModuleStore } from '../store/module-store.js';
import type { ResourceStore } from '../store/resource-store.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteDeviceLogs } from '../store/sqlite-device-logs.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { openSharedCa, type CaFingerprints } from '../pki/shared-ca.js';
import { PostgresCaFingerprints } from '../store/postgres/ca-fingerprints.js';
import { PostgresCertificateRepository } from '../store/postgres/certificate-repository.js';
import { PostgresClaimCredentialStore } from '../store/postgres/claim-store.js';
import { openPostgresDatabase } from '../store/postgres/database.js';
import { PostgresDeviceLogs } from '../store/postgres/device-logs.js';
import { PostgresHostRegistry } from '../store/postgres/host-registry.js';
import { PostgresModuleStore } from '../store/postgres/module-store.js';
import { PostgresResourceStore } from '../store/postgres/resource-store.js';

export interface PlatformContext {
  store: ResourceStore;
  ca: CertificateAuthority;
  certificates: DeviceCertificates;
  /** Signs claim certificates only: the gateway gives them claim-only sessions (docs/enrollment.md). */
  claimCa: CertificateAuthority;
  claims: ClaimCredentials;
  logs: DeviceLogs;
  modules: ModuleStore;
  /** Which device hosts are alive (placement of devices on hosts). */
  hosts: HostRegistry;
  close(): Promise<void>;
}

/** A subject distinct from the device CA's, so chain building never confuses the two. */
export const CLAIM_CA_COMMON_NAME = 'Wasmbed Claim CA';

/** The persistent state a backend keeps. */
interface PlatformStores {
  store: ResourceStore;
  certificates: CertificateRepository;
  claims: ClaimCredentialStore;
  logs: DeviceLogs;
  modules: ModuleStore;
  hosts: HostRegistry;
  /**
   * Where a backend shared by several machines records the platform's CAs, so a machine with
   * another CA (or none) refuses to start; absent where every process shares one WASMBED_HOME.
   */
  caFingerprints?: CaFingerprints;
  close(): Promise<void>;
}

/** The embedded default: one SQLite file shared by the platform's processes, modules as files. */
function openSqliteStores(config: WasmbedConfig): PlatformStores {
  const db = openDatabase(paths.db(config.home));
  return {
    store: new SqliteResourceStore(db),
    certificates: new SqliteCertificateRepository(db),
    claims: new SqliteClaimCredentialStore(db),
    logs: new SqliteDeviceLogs(db),
    modules: new FileModuleStore(paths.modules(config.home)),
    hosts: new SqliteHostRegistry(db),
    close: async () => {
      db.close();
    },
  };
}

/**
 * WASMBED_STORE=kubernetes: resources are custom resources (issue 6), the rest as without it.
 * The Kubernetes client is loaded only then: importing it took ~4 s of a loaded machine's CPU at
 * every process start, and a device host restarted after kill -9 waited on it before resuming
 * its devices.
 */
async function withKubernetesResources(
  config: WasmbedConfig,
  stores: Omit<PlatformStores, 'store'>,
): Promise<PlatformStores> {
  const { KubernetesResourceStore } = await import('../store/kubernetes-resource-store.js');
  const store = new KubernetesResourceStore({
    namespace: config.store.namespace,
    kubeconfig: config.store.kubeconfig,
    logger: createLogger('kube-store'), // informer reconnects and 410 re-lists
  });
  return {
    ...stores,
    store,
    close: async () => {
      await store.close();
      await stores.close();
    },
  };
}

/**
 * WASMBED_DATABASE_URL: everything in PostgreSQL, shared by processes on any number of machines
 * (docs/postgresql.md), the schema brought up to date first. With WASMBED_STORE=kubernetes the
 * resources stay custom resources and no resource feed is opened.
 */
async function openPostgresStores(config: WasmbedConfig, url: string): Promise<PlatformStores> {
  const db = await openPostgresDatabase(url, { logger: createLogger('postgres') });
  const others = {
    certificates: new PostgresCertificateRepository(db),
    claims: new PostgresClaimCredentialStore(db),
    logs: new PostgresDeviceLogs(db),
    modules: new PostgresModuleStore(db),
    hosts: new PostgresHostRegistry(db),
    caFingerprints: new PostgresCaFingerprints(db),
    close: () => db.close(),
  };
  if (config.store.backend === 'kubernetes') return withKubernetesResources(config, others);
  const store = await PostgresResourceStore.open(db);
  return {
    ...others,
    store,
    close: async () => {
      await store.close();
      await db.close();
    },
  };
}

/**
 * The module store alone, where openPlatform keeps it (PostgreSQL with WASMBED_DATABASE_URL, else
 * files under WASMBED_HOME): for the controller, which checks and stores Application modules
 * through the REST API's service and needs no other shared state.
 */
export async function openModuleStore(
  config: WasmbedConfig,
): Promise<{ modules: ModuleStore; close(): Promise<void> }> {
  if (!config.databaseUrl)
    return { modules: new FileModuleStore(paths.modules(config.home)), close: async () => {} };
  const db = await openPostgresDatabase(config.databaseUrl, { logger: createLogger('postgres') });
  return { modules: new PostgresModuleStore(db), close: () => db.close() };
}

async function openStores(config: WasmbedConfig): Promise<PlatformStores> {
  if (config.databaseUrl) return openPostgresStores(config, config.databaseUrl);
  const stores = openSqliteStores(config);
  return config.store.backend === 'kubernetes' ? withKubernetesResources(config, stores) : stores;
}

export async function openPlatform(config: WasmbedConfig): Promise<PlatformContext> {
  const stores = await openStores(config);
  const fingerprints = stores.caFingerprints;
  const openCa = (name: string, dir: string, options?: { commonName: string }) =>
    fingerprints
      ? openSharedCa(fingerprints, name, dir, options)
      : CertificateAuthority.loadOrCreate(dir, options);
  let ca: CertificateAuthority;
  let claimCa: CertificateAuthority;
  try {
    ca = await openCa('device', paths.pki(config.home));
    claimCa = await openCa('claim', paths.claimPki(config.home), { commonName: CLAIM_CA_COMMON_NAME });
  } catch (err) {
    await stores.close();
    throw err;
  }
  return {
    store: stores.store,
    ca,
    certificates: new DeviceCertificates(ca, stores.certificates, config.certificates),
    claimCa,
    claims: new ClaimCredentials(stores.claims, claimCa),
    logs: stores.logs,
    modules: stores.modules,
    hosts: stores.hosts,
    close: () => stores.close(),
  };
}
