/** What every platform process opens first: the database, the resource store and the PKI. */
import { paths, type WasmbedConfig } from '../common/config.js';
import { CertificateAuthority, DeviceCertificates, SqliteCertificateRepository } from '../pki/index.js';
import { ClaimCredentials } from '../pki/claim-credentials.js';
import { SqliteHostRegistry, type HostRegistry } from '../store/host-registry.js';
import type { ResourceStore } from '../store/resource-store.js';
import { openDatabase, type SqliteDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { KubernetesResourceStore } from '../store/kubernetes-resource-store.js';

export interface PlatformContext {
  db: SqliteDatabase;
  store: ResourceStore;
  ca: CertificateAuthority;
  certificates: DeviceCertificates;
  /** Signs claim certificates only: the gateway gives them claim-only sessions (docs/enrollment.md). */
  claimCa: CertificateAuthority;
  claims: ClaimCredentials;
  /** Which device hosts are alive (placement of devices on hosts). */
  hosts: HostRegistry;
  close(): void;
}

/** A subject distinct from the device CA's, so chain building never confuses the two. */
export const CLAIM_CA_COMMON_NAME = 'Wasmbed Claim CA';

export async function openPlatform(config: WasmbedConfig): Promise<PlatformContext> {
  const db = openDatabase(paths.db(config.home));
  // WASMBED_STORE=kubernetes: resources are custom resources (issue 6); certificates stay in `db`.
  const store: ResourceStore =
    config.store.backend === 'kubernetes'
      ? new KubernetesResourceStore({
          namespace: config.store.namespace,
          kubeconfig: config.store.kubeconfig,
        })
      : new SqliteResourceStore(db);
  const ca = await CertificateAuthority.loadOrCreate(paths.pki(config.home));
  const certificates = new DeviceCertificates(ca, new SqliteCertificateRepository(db), config.certificates);
  const claimCa = await CertificateAuthority.loadOrCreate(paths.claimPki(config.home), {
    commonName: CLAIM_CA_COMMON_NAME,
  });
  return {
    db,
    store,
    ca,
    certificates,
    claimCa,
    claims: new ClaimCredentials(db, claimCa),
    hosts: new SqliteHostRegistry(db),
    close: () => {
      if (store instanceof KubernetesResourceStore) store.close();
      db.close();
    },
  };
}
