/**
 * Opening a ResourceStore on each backend for a benchmark process, from a plain (IPC-safe)
 * description, and counting the writes the backend itself committed (not what the client
 * thinks it sent): SQLite's change log, PostgreSQL's row-update statistics, the kube-apiserver's
 * request counter.
 *
 * A Kubernetes store can also be taken from another commit (`storeFromGit`): that commit's
 * store/ directory is copied into a scratch directory under store/ (its imports of common/ and
 * the others rewritten one level up) so two versions of the store run side by side in one run.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { REPO_ROOT } from '../../common/repo-root.js';
import type { ResourceStore } from '../../store/resource-store.js';
import { openDatabase } from '../../store/sqlite.js';
import { SqliteResourceStore } from '../../store/sqlite-resource-store.js';
import { openPostgresDatabase } from '../../store/postgres/database.js';
import { PostgresResourceStore } from '../../store/postgres/resource-store.js';
import { KubernetesResourceStore } from '../../store/kubernetes-resource-store.js';

export type BenchStoreConfig =
  | { backend: 'sqlite'; file: string }
  | { backend: 'postgres'; url: string }
  | {
      backend: 'kubernetes';
      kubeconfig: string;
      namespace: string;
      /** A copy of store/kubernetes-resource-store.ts from another commit (storeFromGit); default: this checkout's. */
      module?: string;
    };

export interface BenchStore {
  store: ResourceStore;
  close(): Promise<void>;
}

export async function openBenchStore(config: BenchStoreConfig): Promise<BenchStore> {
  switch (config.backend) {
    case 'sqlite': {
      const db = openDatabase(config.file);
      const store = new SqliteResourceStore(db);
      return {
        store,
        close: async () => {
          await store.close();
          db.close();
        },
      };
    }
    case 'postgres': {
      const db = await openPostgresDatabase(config.url, { maxConnections: 10 });
      const store = await PostgresResourceStore.open(db);
      return {
        store,
        close: async () => {
          await store.close();
          await db.close();
        },
      };
    }
    case 'kubernetes': {
      const Store: new (o: { namespace: string; kubeconfig: string }) => ResourceStore = config.module
        ? ((await import(config.module)) as { KubernetesResourceStore: typeof KubernetesResourceStore })
            .KubernetesResourceStore
        : KubernetesResourceStore;
      const store = new Store({ namespace: config.namespace, kubeconfig: config.kubeconfig });
      return { store, close: () => store.close() };
    }
  }
}

/** Resource writes the backend has committed so far (a counter: compare two readings). */
export async function committedWrites(
  config: BenchStoreConfig,
  kubeMetrics?: () => Promise<string>,
): Promise<number> {
  switch (config.backend) {
    case 'sqlite': {
      const db = openDatabase(config.file);
      try {
        const row = db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM resource_changes').get() as {
          seq: number;
        };
        return row.seq;
      } finally {
        db.close();
      }
    }
    case 'postgres': {
      // Row updates and inserts of the resources table; PostgreSQL flushes these statistics at
      // most once a second, so read them a second or more after the writes of interest.
      const client = new pg.Client({ connectionString: config.url });
      await client.connect();
      try {
        const result = await client.query<{ writes: string }>(
          "SELECT coalesce(sum(n_tup_upd + n_tup_ins), 0) AS writes FROM pg_stat_user_tables WHERE relname = 'resources'",
        );
        return Number(result.rows[0]!.writes);
      } finally {
        await client.end();
      }
    }
    case 'kubernetes': {
      if (!kubeMetrics) throw new Error('committedWrites on Kubernetes needs the API server metrics');
      // Successful PUT/PATCH/POST requests on wasmbed.io resources, as the API server counts them.
      let total = 0;
      for (const line of (await kubeMetrics()).split('\n')) {
        if (!line.startsWith('apiserver_request_total{') || !line.includes('group="wasmbed.io"')) continue;
        if (!/verb="(PUT|PATCH|POST|APPLY)"/.test(line) || !/code="2\d\d"/.test(line)) continue;
        total += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return total;
    }
  }
}

/**
 * This checkout's store/ as it was at `rev`, copied under store/.bench-<pid>-<n>/ with imports that
 * left store/ rewritten one level up; returns the path of its kubernetes-resource-store.ts. The
 * copy uses today's common/ and node_modules, so it runs only where those still fit it.
 */
export function storeFromGit(rev: string): { module: string; dir: string; commit: string } {
  const git = (...a: string[]) => execFileSync('git', a, { cwd: REPO_ROOT, encoding: 'utf8' });
  const commit = git('rev-parse', '--short', rev).trim();
  const dir = path.join(REPO_ROOT, 'store', `.bench-${process.pid}-${commit}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const file of git('ls-tree', '--name-only', rev, 'store/').split('\n')) {
    if (!/\.(ts|mjs)$/.test(file)) continue;
    const source = git('show', `${rev}:${file}`).replace(/from '\.\.\//g, "from '../../");
    fs.writeFileSync(path.join(dir, path.basename(file)), source);
  }
  return { module: path.join(dir, 'kubernetes-resource-store.ts'), dir, commit };
}
