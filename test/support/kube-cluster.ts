/**
 * A real control plane for the Kubernetes tests: etcd + kube-apiserver, built by
 * scripts/setup-kubernetes.sh (cached in .tools/kubernetes/bin), on free ports, with a token
 * for an admin in system:masters and a kubeconfig file. No kubelet, no scheduler: custom
 * resources, leases and watches are all the API server itself.
 *
 * `proxy` is a TCP relay in front of the API server; a client configured with `proxyKubeconfig`
 * can have its connections cut (`proxy.cut(ms)`) to produce a real watch disconnect.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../common/repo-root.js';
import { freePort } from './ports.js';
import { startTcpRelay, type TcpRelay } from './tcp-relay.js';
import { waitFor } from './wait.js';

export const KUBE_BIN = path.join(REPO_ROOT, '.tools', 'kubernetes', 'bin');
const SETUP = path.join(REPO_ROOT, 'scripts', 'setup-kubernetes.sh');

/** Builds the binaries if they are missing (the first time this takes a while). */
export function ensureKubernetesBinaries(): void {
  const missing = ['etcd', 'kube-apiserver', 'kubectl'].filter((b) => !fs.existsSync(path.join(KUBE_BIN, b)));
  if (missing.length === 0) return;
  process.stderr.write(`[kube-cluster] missing ${missing.join(', ')}: running scripts/setup-kubernetes.sh\n`);
  execFileSync(SETUP, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 60 * 60_000 });
}

export interface KubeCluster {
  dir: string;
  server: string;
  kubeconfig: string;
  proxyKubeconfig: string;
  proxy: { cut(ms: number): Promise<void>; connections(): number };
  logs: { etcd: string[]; apiserver: string[] };
  kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export interface KubeClusterOptions {
  /** e.g. '2s': the API server compacts etcd that often (default 5m). */
  compactionInterval?: string;
  /** false serves watches straight from etcd, so an old resourceVersion gets 410 Gone. */
  watchCache?: boolean;
}

function track(child: ChildProcess, lines: string[]): void {
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) lines.push(line);
    if (lines.length > 2000) lines.splice(0, lines.length - 2000);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function readyz(port: number, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        path: '/readyz',
        rejectUnauthorized: false,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.setTimeout(2000, () => req.destroy());
  });
}

export async function startKubeCluster(options: KubeClusterOptions = {}): Promise<KubeCluster> {
  ensureKubernetesBinaries();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-kube-'));
  const [etcdPort, peerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const token = crypto.randomBytes(16).toString('hex');
  const logs = { etcd: [] as string[], apiserver: [] as string[] };
  const children: ChildProcess[] = [];
  let relay: TcpRelay | undefined;

  const cleanup = async () => {
    await relay?.close();
    for (const child of [...children].reverse()) await stopChild(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const onExit = () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL'));
  process.once('exit', onExit);

  try {
    const etcd = spawn(
      path.join(KUBE_BIN, 'etcd'),
      [
        '--name=wasmbed-test',
        `--data-dir=${path.join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=wasmbed-test=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(etcd);
    track(etcd, logs.etcd);

    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    fs.writeFileSync(path.join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    fs.writeFileSync(path.join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    fs.writeFileSync(path.join(dir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`);

    const apiserver = spawn(
      path.join(KUBE_BIN, 'kube-apiserver'),
      [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        `--secure-port=${apiPort}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--cert-dir=${path.join(dir, 'certs')}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${path.join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
        `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--enable-priority-and-fairness=false',
        ...(options.compactionInterval ? [`--etcd-compaction-interval=${options.compactionInterval}`] : []),
        ...(options.watchCache === false ? ['--watch-cache=false'] : []),
        '--v=0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(apiserver);
    track(apiserver, logs.apiserver);

    await waitFor(
      'kube-apiserver /readyz',
      async () => {
        for (const c of children) {
          if (c.exitCode !== null) {
            throw new Error(
              `${c.spawnfile} exited: ${[...logs.etcd, ...logs.apiserver].slice(-30).join('\n')}`,
            );
          }
        }
        return readyz(apiPort, token);
      },
      120_000,
      250,
    );

    // A relay the tests can cut, for real watch disconnects.
    relay = await startTcpRelay(apiPort);
    const proxyPort = relay.port;

    const kubeconfigFor = (port: number) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'test',
            cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true },
          },
        ],
        users: [{ name: 'admin', user: { token } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin', namespace: 'default' } }],
        'current-context': 'test',
      });
    const kubeconfig = path.join(dir, 'kubeconfig');
    const proxyKubeconfig = path.join(dir, 'kubeconfig-proxy');
    fs.writeFileSync(kubeconfig, kubeconfigFor(apiPort), { mode: 0o600 });
    fs.writeFileSync(proxyKubeconfig, kubeconfigFor(proxyPort), { mode: 0o600 });

    return {
      dir,
      server: `https://127.0.0.1:${apiPort}`,
      kubeconfig,
      proxyKubeconfig,
      logs,
      proxy: {
        async cut(ms) {
          relay!.cut();
          await new Promise((r) => setTimeout(r, ms));
          relay!.restore();
        },
        connections: () => relay!.connections(),
      },
      kubectl(args, input) {
        return new Promise((resolve) => {
          const child = execFile(
            path.join(KUBE_BIN, 'kubectl'),
            ['--kubeconfig', kubeconfig, ...args],
            { timeout: 60_000 },
            (err, stdout, stderr) => {
              const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
              resolve({ code, stdout, stderr });
            },
          );
          if (input !== undefined) child.stdin!.end(input);
        });
      },
      async stop() {
        process.removeListener('exit', onExit);
        await cleanup();
      },
    };
  } catch (err) {
    process.removeListener('exit', onExit);
    await cleanup();
    throw err;
  }
}

/** Applies k8s/crds/ (Device, Application, Gateway) and waits until the API server serves them. */
export async function installCrds(cluster: KubeCluster): Promise<void> {
  const crds = await cluster.kubectl(['apply', '-f', path.join(REPO_ROOT, 'k8s', 'crds')]);
  if (crds.code !== 0) throw new Error(`kubectl apply -f k8s/crds failed: ${crds.stderr}`);
  const established = await cluster.kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/devices.wasmbed.io',
    'crd/applications.wasmbed.io',
    'crd/gateways.wasmbed.io',
  ]);
  if (established.code !== 0) throw new Error(`the CRDs were not Established: ${established.stderr}`);
}
