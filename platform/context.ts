/**
 * What every platform process opens first: the stores and the PKI. Which backend keeps what is
 * decided here and nowhere else: one function per backend returns the stores it provides.
 */
import { paths, type WasmbedConfig } from '../common/config.js';
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
import { KubernetesResourceStore } from '../store/kubernetes-resource-store.js';

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

/** WASMBED_STORE=kubernetes: resources are custom resources (issue 6), the rest as without it. */
function withKubernetesResources(config: WasmbedConfig, stores: PlatformStores): PlatformStores {
  const store = new KubernetesResourceStore({
    namespace: config.store.namespace,
    kubeconfig: config.store.kubeconfig,
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

function openStores(config: WasmbedConfig): PlatformStores {
  const stores = openSqliteStores(config);
  return config.store.backend === 'kubernetes' ? withKubernetesResources(config, stores) : stores;
}

export async function openPlatform(config: WasmbedConfig): Promise<PlatformContext> {
  const stores = openStores(config);
  const ca = await CertificateAuthority.loadOrCreate(paths.pki(config.home));
  const claimCa = await CertificateAuthority.loadOrCreate(paths.claimPki(config.home), {
    commonName: CLAIM_CA_COMMON_NAME,
  });
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
