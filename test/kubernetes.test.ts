/**
 * Kubernetes mode against a real control plane: etcd + kube-apiserver built from their Go
 * modules (scripts/setup-kubernetes.sh), kubectl, a real Temporal dev server, and the
 * orchestrator, gateway, web and controller processes with WASMBED_STORE=kubernetes.
 * Nothing is mocked. The API server runs with --watch-cache=false and a 1 s etcd compaction
 * so that a watch resumed after a disconnect really gets 410 Gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import { CONTROLLER_ENTRY } from '../platform/processes.js';
import { CRDS, renderCrd } from '../k8s/crds/generate.js';
import { startKubeCluster, type KubeCluster } from './support/kube-cluster.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let cluster: KubeCluster;
let platform: TestPlatform;
const controllers: { child: ChildProcess; lines: string[] }[] = [];

function startController(name: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', CONTROLLER_ENTRY], {
    cwd: REPO_ROOT,
    env: {
      ...platform.env,
      // The controller reaches the API server through the relay the test can cut.
      KUBECONFIG: cluster.proxyKubeconfig,
      WASMBED_CONTROLLER_ID: name,
      WASMBED_LEASE_DURATION_SECONDS: '10',
      WASMBED_CONTROLLER_RESYNC_MS: '5000',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line) continue;
      lines.push(line);
      if (process.env.WASMBED_TEST_VERBOSE) process.stderr.write(`[${name}] ${line}\n`);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const entry = { child, lines };
  controllers.push(entry);
  return entry;
}

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

async function getDevice(name: string): Promise<any | undefined> {
  const r = await cluster.kubectl(['get', 'device', name, '-o', 'json']);
  if (r.code !== 0) {
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(r.stderr);
  }
  return JSON.parse(r.stdout);
}

function deviceYaml(name: string, mcuType = 'Stm32F746gDisco', runtime = 'virtual'): string {
  return `apiVersion: wasmbed.io/v1alpha1
kind: Device
metadata:
  name: ${name}
spec:
  mcuType: ${mcuType}
  runtime: ${runtime}
`;
}

async function runsOf(workflowId: string): Promise<number> {
  let count = 0;
  for await (const _ of platform.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) count++;
  return count;
}

const waitConnected = (name: string, timeoutMs = 90_000) =>
  waitFor(
    `${name} to be Connected`,
    async () => {
      const d = await getDevice(name);
      return d?.status?.phase === 'Connected' ? d : undefined;
    },
    timeoutMs,
    250,
  );

beforeAll(async () => {
  cluster = await startKubeCluster({ compactionInterval: '1s', watchCache: false });
  try {
    const crds = await cluster.kubectl(['apply', '-f', path.join(REPO_ROOT, 'k8s', 'crds')]);
    expect(crds.code, crds.stderr).toBe(0);
    const established = await cluster.kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/devices.wasmbed.io',
      'crd/applications.wasmbed.io',
      'crd/gateways.wasmbed.io',
    ]);
    expect(established.code, established.stderr).toBe(0);
    platform = await startTestPlatform({
      env: { WASMBED_STORE: 'kubernetes', KUBECONFIG: cluster.kubeconfig, WASMBED_NAMESPACE: 'default' },
    });
    const first = startController('controller-a');
    await waitFor('controller ready', () => first.lines.some((l) => /controller ready/.test(l)), 60_000);
  } catch (err) {
    process.stderr.write(
      `[kubernetes.test] setup failed; apiserver log tail:\n${cluster.logs.apiserver.slice(-20).join('\n')}\n`,
    );
    throw err;
  }
}, 600_000);

afterAll(async () => {
  for (const c of controllers) await stopProcess(c.child, 'SIGKILL');
  await platform?.stop();
  await cluster?.stop();
}, 60_000);

describe('Kubernetes mode', () => {
  it('installs the CRDs (generated from common/) and rejects a bad Device at apply time', async () => {
    for (const file of Object.keys(CRDS)) {
      expect(fs.readFileSync(path.join(REPO_ROOT, 'k8s', 'crds', file), 'utf8'), `${file} is stale`).toBe(
        renderCrd(file),
      );
    }
    const crds = await cluster.kubectl(['get', 'crd', '-o', 'name']);
    expect(crds.stdout).toContain('devices.wasmbed.io');

    const bad = await cluster.kubectl(['apply', '-f', '-'], deviceYaml('bad-mcu', 'Esp32'));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/spec\.mcuType/);
    expect(bad.stderr).toMatch(/Unsupported value: "Esp32"/);
    expect(bad.stderr).toContain('Stm32F746gDisco');

    const noNic = await cluster.kubectl(['apply', '-f', '-'], deviceYaml('no-nic', 'Nrf52840DK', 'renode'));
    expect(noNic.code).not.toBe(0);
    expect(noNic.stderr).toMatch(/no Ethernet in its emulator/);

    const badName = await cluster.kubectl(['apply', '-f', '-'], deviceYaml('bad.name'));
    expect(badName.code).not.toBe(0);
    expect(badName.stderr).toMatch(/DNS label/);

    expect(await getDevice('bad-mcu')).toBeUndefined();
    expect(await getDevice('no-nic')).toBeUndefined();

    // The k8s/ manifests are accepted by the API server (server-side dry run after the namespace).
    const ns = await cluster.kubectl(['apply', '-f', path.join(REPO_ROOT, 'k8s', '00-namespace.yaml')]);
    expect(ns.code, ns.stderr).toBe(0);
    const all = await cluster.kubectl(['apply', '--dry-run=server', '-R', '-f', path.join(REPO_ROOT, 'k8s')]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/statefulset.apps\/wasmbed-gateway (created|configured) \(server dry run\)/);
    expect(all.stdout).toMatch(/role.rbac.authorization.k8s.io\/wasmbed-controller (created|configured)/);
  });

  it('provisions a Device CR to Connected, shows it in status and in kubectl get devices', async () => {
    const applied = await cluster.kubectl(['apply', '-f', '-'], deviceYaml('kdev-a'));
    expect(applied.code, applied.stderr).toBe(0);
    const device = await waitConnected('kdev-a');

    expect(device.metadata.finalizers).toContain('wasmbed.io/deprovision');
    expect(device.spec).toMatchObject({ mcuType: 'Stm32F746gDisco', runtime: 'virtual' });
    expect(device.status).toMatchObject({
      phase: 'Connected',
      observedGeneration: 1,
      workflowId: 'provision-kdev-a',
      gateway: { name: 'gateway-0' },
    });
    expect(device.status.identity.certSerial).toMatch(/^[0-9a-f]+$/i);
    const conditions = Object.fromEntries(device.status.conditions.map((c: any) => [c.type, c]));
    expect(conditions.Reconciled).toMatchObject({ status: 'True', reason: 'WorkflowStarted' });
    expect(conditions.Provisioned).toMatchObject({ status: 'True' });
    expect(platform.deviceProcesses('kdev-a')).toHaveLength(1);

    // One code path: the REST API reads the same resource through the Kubernetes store.
    const viaApi = await platform.api('GET', '/api/v1/devices/kdev-a');
    expect(viaApi.status).toBe(200);
    expect(JSON.stringify(viaApi.body)).toContain('Connected');
    // The gateway registered itself as a Gateway CR.
    const gateways = await cluster.kubectl(['get', 'gateways']);
    expect(gateways.stdout).toMatch(/gateway-0\s+Ready\s+127\.0\.0\.1:\d+/);

    const table = await cluster.kubectl(['get', 'devices']);
    expect(table.code, table.stderr).toBe(0);
    const [header, ...rows] = table.stdout.trim().split('\n');
    expect(header!.split(/\s+/)).toEqual(['NAME', 'PHASE', 'GATEWAY', 'MCU', 'AGE']);
    expect(
      rows
        .find((r) => r.startsWith('kdev-a'))!
        .split(/\s+/)
        .slice(0, 4),
    ).toEqual(['kdev-a', 'Connected', 'gateway-0', 'Stm32F746gDisco']);
    const byCategory = await cluster.kubectl(['get', 'wasmbed']);
    expect(byCategory.stdout).toContain('device.wasmbed.io/kdev-a');
    const byShortName = await cluster.kubectl(['get', 'wdev', 'kdev-a', '-o', 'wide']);
    expect(byShortName.stdout).toMatch(/RUNTIME/);
  });

  it('deleting the Device runs deprovisioning, then removes the finalizer; nothing leaks', async () => {
    const before = await getDevice('kdev-a');
    const volume = path.join(platform.home, 'volumes', 'kdev-a');
    expect(fs.existsSync(volume)).toBe(true);

    const deleted = await cluster.kubectl(['delete', 'device', 'kdev-a', '--wait=false']);
    expect(deleted.code, deleted.stderr).toBe(0);
    // The finalizer holds the resource while deprovisioning runs.
    const held = await getDevice('kdev-a');
    if (held) expect(held.metadata.deletionTimestamp).toBeTruthy();

    await waitFor('kdev-a to be gone', async () => (await getDevice('kdev-a')) === undefined, 60_000, 250);
    const description = await platform.client.workflow.getHandle('deprovision-kdev-a').describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.memo).toMatchObject({ uid: before.metadata.uid });
    expect(platform.deviceProcesses('kdev-a')).toHaveLength(0);
    expect(fs.existsSync(volume)).toBe(false);
    const db = new Database(path.join(platform.home, 'wasmbed.db'), { readonly: true });
    try {
      const active = db
        .prepare('SELECT COUNT(*) AS n FROM certificates WHERE device_name = ? AND revoked_at IS NULL')
        .get('kdev-a') as { n: number };
      expect(active.n).toBe(0);
    } finally {
      db.close();
    }
    for (const id of ['provision-kdev-a', 'lifecycle-kdev-a']) {
      const d = await platform.client.workflow
        .getHandle(id)
        .describe()
        .catch(() => undefined);
      if (d) expect(d.status.name, id).not.toBe('RUNNING');
    }
    expect(await runsOf('deprovision-kdev-a')).toBe(1);
  });

  it('survives a watch disconnect (410 Gone) and its own restart without duplicating work', async () => {
    const controllerA = controllers[0]!;
    // A second replica waits on the Lease while the first leads.
    const standby = startController('controller-b');
    await waitFor(
      'standby to wait',
      () => standby.lines.some((l) => /waiting for leadership/.test(l)),
      30_000,
    );

    // Cut every connection of the leader for 5 s (less than its 10 s lease); a device is created
    // meanwhile. Writes go on
    // (gateway heartbeats) and etcd is compacted every second, so the resumed watch gets 410.
    const cut = cluster.proxy.cut(5000);
    await new Promise((r) => setTimeout(r, 500));
    expect((await cluster.kubectl(['apply', '-f', '-'], deviceYaml('kdev-b'))).code).toBe(0);
    await cut;
    await waitConnected('kdev-b');
    expect(controllerA.lines.some((l) => /watch failed; reconnecting/.test(l))).toBe(true);
    await waitFor('410 Gone re-list', () => controllerA.lines.some((l) => /410 Gone/.test(l)), 30_000);
    expect(standby.lines.some((l) => /became leader/.test(l))).toBe(false);

    // Kill the leader as it starts work on a new device; the standby takes over after the lease.
    expect((await cluster.kubectl(['apply', '-f', '-'], deviceYaml('kdev-c'))).code).toBe(0);
    await waitFor(
      'provision-kdev-c to start',
      async () => (await runsOf('provision-kdev-c')) > 0,
      30_000,
      50,
    );
    await stopProcess(controllerA.child, 'SIGKILL');
    await waitFor('standby to lead', () => standby.lines.some((l) => /became leader/.test(l)), 30_000);
    await waitFor('standby ready', () => standby.lines.some((l) => /controller ready/.test(l)), 30_000);
    await waitConnected('kdev-c');

    // The killed controller comes back (as a standby now): still one run per device.
    const restarted = startController('controller-a');
    await waitFor(
      'restarted to wait',
      () => restarted.lines.some((l) => /waiting for leadership/.test(l)),
      30_000,
    );
    await new Promise((r) => setTimeout(r, 6000)); // > one resync of the leader
    expect(await runsOf('provision-kdev-b')).toBe(1);
    expect(await runsOf('provision-kdev-c')).toBe(1);
    expect(standby.lines.filter((l) => /started provisioning/.test(l))).toHaveLength(0);
    expect(platform.deviceProcesses('kdev-b')).toHaveLength(1);
    expect(platform.deviceProcesses('kdev-c')).toHaveLength(1);
    for (const name of ['kdev-b', 'kdev-c']) {
      const d = await getDevice(name);
      expect(d.status.observedGeneration).toBe(1);
      expect(d.status.phase).toBe('Connected');
    }

    // Clean up through the same path: deletion deprovisions both.
    expect((await cluster.kubectl(['delete', 'devices', 'kdev-b', 'kdev-c', '--wait=false'])).code).toBe(0);
    await waitFor(
      'devices gone',
      async () => (await getDevice('kdev-b')) === undefined && (await getDevice('kdev-c')) === undefined,
      60_000,
      250,
    );
    expect(platform.deviceProcesses('kdev-b')).toHaveLength(0);
    expect(platform.deviceProcesses('kdev-c')).toHaveLength(0);
  });
});
