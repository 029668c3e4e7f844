/**
 * The Kubernetes ResourceStore, before and after issue 16, side by side against one real etcd +
 * kube-apiserver (test/support/kube-cluster.ts) with N Device custom resources:
 *
 * - heartbeat-like status writes per second (updateStatus of lastHeartbeat), one at a time and
 *   16 in flight;
 * - revision() and list() per call, and the LIST requests of wasmbed.io resources they cost the
 *   API server (its own apiserver_request_total counter);
 * - a burst of 200 calls at once (get and updateStatus): time, and the worst gap of a 5 ms timer
 *   (how long the event loop was blocked).
 *
 * "before" is the synchronous backend (a worker thread and Atomics.wait per API call), taken
 * from git history (the commit before store/kubernetes-store-worker.mjs was deleted, or
 * --old=<rev>) into a scratch directory under store/ for the run; "after" is the informer-backed
 * async store.
 *
 *   npx tsx bench/kube-store.ts [--quick] [--devices=200] [--writes=200] [--old=<git rev>] [--out=file.json]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../common/repo-root.js';
import type { DeviceSpec, DeviceStatus } from '../common/resources.js';
import { KubernetesResourceStore } from '../store/kubernetes-resource-store.js';
import { defaultStatus } from '../store/kubernetes-objects.js';
import { startKubeCluster, type KubeCluster } from '../test/support/kube-cluster.js';
import { watchLoopGaps } from '../test/support/loop-gaps.js';
import { machine, parseArgs, round, writeOut } from './support/stats.js';

const args = parseArgs();
const deviceCount = args.int('devices', args.quick ? 50 : 200);
const writes = args.int('writes', args.quick ? 40 : 200);
const progress = (line: string) => process.stderr.write(`[kube-store] ${line}\n`);

/** The calls both backends answer (the old one synchronously: awaiting a value is fine). */
interface AnyStore {
  get(kind: 'Device', name: string): unknown;
  list(kind: 'Device'): unknown;
  revision(): unknown;
  updateStatus(kind: 'Device', name: string, mutate: (s: DeviceStatus) => DeviceStatus): unknown;
  close(): unknown;
}

const git = (...a: string[]) => execFileSync('git', a, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();

/** The synchronous backend from git history, rewritten to import from a scratch dir under store/. */
async function oldStore(kubeconfig: string): Promise<{ store: AnyStore; rev: string; dir: string }> {
  const worker = 'store/kubernetes-store-worker.mjs';
  const deleted = git('log', '-n', '1', '--format=%H', '--diff-filter=D', '--', worker);
  const rev = args.string('old') ?? (deleted ? `${deleted}^` : 'HEAD');
  const dir = path.join(REPO_ROOT, 'store', `.bench-old-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
  // Its store/ imports resolve to today's files, except those gone since (the polling watch):
  // those come from the same revision into the scratch dir too.
  const copy = (file: string) => {
    const source = git('show', `${rev}:store/${file}`)
      .replaceAll("from '../common/", "from '../../common/")
      .replace(/from '\.\/([\w-]+)\.js'/g, (_, name: string) => {
        if (fs.existsSync(path.join(REPO_ROOT, 'store', `${name}.ts`))) return `from '../${name}.js'`;
        if (!fs.existsSync(path.join(dir, `${name}.ts`))) copy(`${name}.ts`);
        return `from './${name}.js'`;
      });
    fs.writeFileSync(path.join(dir, file), source);
  };
  copy('kubernetes-resource-store.ts');
  fs.writeFileSync(path.join(dir, 'kubernetes-store-worker.mjs'), git('show', `${rev}:${worker}`));
  const module = (await import(path.join(dir, 'kubernetes-resource-store.ts'))) as {
    KubernetesResourceStore: new (o: { namespace: string; kubeconfig: string }) => AnyStore;
  };
  return {
    store: new module.KubernetesResourceStore({ namespace: 'default', kubeconfig }),
    rev: git('rev-parse', '--short', rev),
    dir,
  };
}

/** LIST requests the API server has served for wasmbed.io resources (its own counter). */
async function listRequests(cluster: KubeCluster): Promise<number> {
  const metrics = await cluster.kubectl(['get', '--raw', '/metrics']);
  let total = 0;
  for (const line of metrics.stdout.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    if (line.includes('verb="LIST"') && line.includes('group="wasmbed.io"')) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

async function timed(n: number, call: (i: number) => unknown): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < n; i++) await call(i);
  return (performance.now() - started) / n;
}

async function measure(label: string, store: AnyStore, cluster: KubeCluster, names: string[]) {
  const heartbeat = (name: string) =>
    store.updateStatus('Device', name, ((s: object) => ({
      ...s,
      lastHeartbeat: new Date().toISOString(),
    })) as never);
  await store.list('Device'); // warm: the informer lists once (after), the worker starts (before)
  await heartbeat(names[0]!);

  const sequentialMs = await timed(writes, (i) => heartbeat(names[i % names.length]!));
  const inFlight = 16;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, lane) => {
      for (let i = lane; i < writes; i += inFlight) await heartbeat(names[i % names.length]!);
    }),
  );
  const concurrentPerS = writes / ((performance.now() - started) / 1000);

  const calls = args.quick ? 20 : 100;
  const listsBefore = await listRequests(cluster);
  const revisionMs = await timed(calls, () => store.revision());
  const revisionLists = (await listRequests(cluster)) - listsBefore;
  const listMs = await timed(calls, () => store.list('Device'));
  const listLists = (await listRequests(cluster)) - listsBefore - revisionLists;

  const gaps = watchLoopGaps();
  const burstStarted = performance.now();
  await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const name = names[i % names.length]!;
      return i % 2 ? heartbeat(name) : store.get('Device', name);
    }),
  );
  await new Promise((r) => setTimeout(r, 10)); // let the timer fire once after a blocked loop
  const burstMs = performance.now() - burstStarted;
  const worstGapMs = gaps.stop();

  const result = {
    backend: label,
    sequentialWritesPerS: round(1000 / sequentialMs, 1),
    concurrentWritesPerS: round(concurrentPerS, 1),
    revisionMsPerCall: round(revisionMs, 3),
    revisionListRequestsPerCall: round(revisionLists / calls, 2),
    listMsPerCall: round(listMs, 3),
    listListRequestsPerCall: round(listLists / calls, 2),
    burst200Ms: round(burstMs, 0),
    burst200WorstLoopGapMs: round(worstGapMs, 0),
  };
  progress(JSON.stringify(result));
  return result;
}

const cluster = await startKubeCluster();
let scratch: string | undefined;
try {
  const crds = await cluster.kubectl(['apply', '-f', path.join(REPO_ROOT, 'k8s', 'crds')]);
  if (crds.code !== 0) throw new Error(crds.stderr);
  await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/devices.wasmbed.io']);
  const seeder = new KubernetesResourceStore({ namespace: 'default', kubeconfig: cluster.kubeconfig });
  const spec: DeviceSpec = { mcuType: 'Stm32F746gDisco', runtime: 'virtual' };
  const names = Array.from({ length: deviceCount }, (_, i) => `bench-${String(i).padStart(4, '0')}`);
  // The API server may take a moment to serve a just-established CRD.
  for (let attempt = 0; ; attempt++) {
    try {
      await seeder.create('Device', names[0]!, spec, defaultStatus('Device'));
      break;
    } catch (err) {
      if (attempt > 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  for (let i = 1; i < names.length; i += 16) {
    await Promise.all(
      names.slice(i, i + 16).map((n) => seeder.create('Device', n, spec, defaultStatus('Device'))),
    );
  }
  await seeder.close();
  progress(`${deviceCount} devices seeded`);

  const results = [];
  const old = await oldStore(cluster.kubeconfig);
  scratch = old.dir;
  try {
    results.push({
      ...(await measure(`before (Atomics.wait bridge; ${old.rev})`, old.store, cluster, names)),
    });
  } finally {
    await old.store.close();
  }
  const store = new KubernetesResourceStore({ namespace: 'default', kubeconfig: cluster.kubeconfig });
  results.push(await measure('after (async, informer cache)', store, cluster, names));
  await store.close();

  const [before, after] = results as [(typeof results)[0], (typeof results)[0]];
  const ratio = (a: number, b: number) => round(a / b, 1);
  const summary = {
    machine: machine(),
    devices: deviceCount,
    writes,
    results,
    ratios: {
      sequentialWrites: ratio(after.sequentialWritesPerS, before.sequentialWritesPerS),
      concurrentWrites: ratio(after.concurrentWritesPerS, before.concurrentWritesPerS),
      revision: ratio(before.revisionMsPerCall, after.revisionMsPerCall),
      list: ratio(before.listMsPerCall, after.listMsPerCall),
      burstWorstLoopGap: ratio(before.burst200WorstLoopGapMs, after.burst200WorstLoopGapMs),
    },
  };
  console.log(JSON.stringify(summary, null, 2));
  writeOut(args.string('out'), summary);
} finally {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  await cluster.stop();
}
