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
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { sha256Hex } from '../store/module-store.js';
import { CONTROLLER_ENTRY } from '../platform/processes.js';
import { CRDS, renderCrd } from '../k8s/crds/generate.js';
import { installCrds, startKubeCluster, type KubeCluster } from './support/kube-cluster.js';
import { freePort } from './support/ports.js';
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

async function getResource(kind: string, name: string): Promise<any | undefined> {
  const r = await cluster.kubectl(['get', kind, name, '-o', 'json']);
  if (r.code !== 0) {
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(r.stderr);
  }
  return JSON.parse(r.stdout);
}
const getDevice = (name: string) => getResource('device', name);
const getApp = (name: string) => getResource('application', name);
const getGateway = (name: string) => getResource('gateway', name);
const condition = (obj: any, type: string): any =>
  (obj.status?.conditions ?? []).find((c: { type: string }) => c.type === type);

async function waitApp(name: string, ok: (app: any) => boolean, timeoutMs = 90_000): Promise<any> {
  let last: any;
  try {
    return await waitFor(
      `application ${name}`,
      async () => {
        last = await getApp(name);
        return last && ok(last) ? last : undefined;
      },
      timeoutMs,
      250,
    );
  } catch (err) {
    // Say where it got stuck: the status, and what the controllers said about it.
    const said = controllers.flatMap((c) => c.lines.filter((l) => l.includes(name))).slice(-15);
    throw new Error(
      `${(err as Error).message}; status: ${JSON.stringify(last?.status)}\n${said.join('\n')}`,
      {
        cause: err,
      },
    );
  }
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

function applicationYaml(name: string, module: string, target = 'devices: [kdev-a]'): string {
  return `apiVersion: wasmbed.io/v1alpha1
kind: Application
metadata:
  name: ${name}
spec:
  module:
    ${module}
  target: { ${target} }
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
  await buildApps({ log: () => {} });
  cluster = await startKubeCluster({ compactionInterval: '1s', watchCache: false });
  try {
    await installCrds(cluster);
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

    // An Application's module: exactly one source, checked at apply time too.
    const twoSources = await cluster.kubectl(
      ['apply', '-f', '-'],
      applicationYaml(
        'two-sources',
        `sha256: "${'a'.repeat(64)}"\n    configMapKeyRef: { name: m, key: app.wasm }`,
      ),
    );
    expect(twoSources.code).not.toBe(0);
    expect(twoSources.stderr).toMatch(/module needs exactly one of sha256/);
    const badSha = await cluster.kubectl(['apply', '-f', '-'], applicationYaml('bad-sha', 'sha256: "xyz"'));
    expect(badSha.code).not.toBe(0);
    expect(badSha.stderr).toMatch(/spec\.module\.sha256/);

    // A wave's size is a count or a percentage (int-or-string, its value checked by a CEL rule);
    // unset, it is a quarter of the targets.
    const withStrategy = (name: string, strategy: string) =>
      `${applicationYaml(name, `sha256: "${'a'.repeat(64)}"`)}  strategy: ${strategy}\n`;
    const badPercent = await cluster.kubectl(
      ['apply', '-f', '-', '--dry-run=server'],
      withStrategy('bad-percent', '{ type: Rolling, maxUnavailable: "150%" }'),
    );
    expect(badPercent.code).not.toBe(0);
    expect(badPercent.stderr).toMatch(/spec\.strategy\.maxUnavailable: Invalid value.*percentage/);
    const negative = await cluster.kubectl(
      ['apply', '-f', '-', '--dry-run=server'],
      withStrategy('negative-canary', '{ type: Canary, canary: -1 }'),
    );
    expect(negative.code).not.toBe(0);
    expect(negative.stderr).toMatch(/spec\.strategy\.canary/);
    for (const [name, strategy, maxUnavailable, canary] of [
      ['percent', '{ type: Canary, maxUnavailable: "10%", canary: "5%" }', '10%', '5%'],
      ['count', '{ type: Rolling, maxUnavailable: 3 }', 3, 1],
      ['unset', '{ type: Rolling }', '25%', 1],
    ] as const) {
      const applied = await cluster.kubectl(
        ['apply', '-f', '-', '--dry-run=server', '-o', 'json'],
        withStrategy(`strategy-${name}`, strategy),
      );
      expect(applied.code, applied.stderr).toBe(0);
      expect(JSON.parse(applied.stdout).spec.strategy).toMatchObject({ maxUnavailable, canary });
    }
  });

  it('kubectl apply -f k8s/ installs everything, with least-privilege service accounts', async () => {
    // Really applied, not a dry run. There is no kubelet, scheduler or controller-manager here,
    // so the Deployments and the StatefulSet exist as objects but never run pods.
    const applied = await cluster.kubectl(['apply', '-R', '-f', path.join(REPO_ROOT, 'k8s')]);
    expect(applied.code, applied.stderr).toBe(0);
    // The try-it-out extras (Temporal dev server, single-replica PostgreSQL) apply on top.
    const tryIt = await cluster.kubectl(['apply', '-R', '-f', path.join(REPO_ROOT, 'k8s-try-it')]);
    expect(tryIt.code, tryIt.stderr).toBe(0);
    const objects = await cluster.kubectl([
      '-n',
      'wasmbed',
      'get',
      'deployments,statefulsets,services,configmaps,secrets,serviceaccounts,roles,rolebindings,pvc',
      '-o',
      'name',
    ]);
    expect(objects.code, objects.stderr).toBe(0);
    for (const name of [
      'deployment.apps/wasmbed-worker',
      'deployment.apps/wasmbed-web',
      'deployment.apps/wasmbed-controller',
      'deployment.apps/wasmbed-gateway',
      'statefulset.apps/wasmbed-host',
      'deployment.apps/temporal',
      'statefulset.apps/postgres',
      'service/wasmbed-gateway',
      'service/wasmbed-host',
      'service/wasmbed-web',
      'service/temporal',
      'service/postgres',
      'configmap/wasmbed-config',
      // Alert rules, scrape config and the Grafana dashboard (docs/observability.md).
      'configmap/wasmbed-prometheus',
      'configmap/wasmbed-grafana-dashboard',
      ...['controller', 'worker', 'gateway', 'web', 'host'].flatMap((c) => [
        `serviceaccount/wasmbed-${c}`,
        `role.rbac.authorization.k8s.io/wasmbed-${c}`,
        `rolebinding.rbac.authorization.k8s.io/wasmbed-${c}`,
      ]),
    ]) {
      expect(objects.stdout, name).toContain(name);
    }
    // No secret ships (the user makes them) and no volume is shared between pods: the only
    // claims are each device host's own, from its volumeClaimTemplates.
    expect(objects.stdout).not.toMatch(/^secret\//m);
    expect(objects.stdout).not.toMatch(/^persistentvolumeclaim\//m);
    const json = async (kind: string, name: string) =>
      JSON.parse((await cluster.kubectl(['-n', 'wasmbed', 'get', kind, name, '-o', 'json'])).stdout);
    const hosts = await json('statefulset', 'wasmbed-host');
    expect(hosts.spec.volumeClaimTemplates.map((t: any) => t.spec.accessModes)).toEqual([['ReadWriteOnce']]);
    const hostEnv = hosts.spec.template.spec.containers[0].env as { name: string; value?: string }[];
    expect(hostEnv.find((e) => e.name === 'WASMBED_HOST_ID')?.value).toBe('$(POD_NAME)');
    // The gateway's endpoint is its pod's own address, never loopback.
    const gateways = await json('deployment', 'wasmbed-gateway');
    const env = gateways.spec.template.spec.containers[0].env as { name: string; value?: string }[];
    expect(env.find((e) => e.name === 'WASMBED_GATEWAY_ENDPOINT')?.value).toBe('$(POD_IP):8081');

    const can = async (sa: string, verb: string, resource: string, subresource?: string) => {
      const r = await cluster.kubectl([
        'auth',
        'can-i',
        verb,
        resource,
        '-n',
        'wasmbed',
        `--as=system:serviceaccount:wasmbed:wasmbed-${sa}`,
        ...(subresource ? [`--subresource=${subresource}`] : []),
      ]);
      return r.stdout.trim();
    };
    // What each component's code needs...
    const needed: [string, string, string, string?][] = [
      ['controller', 'watch', 'devices.wasmbed.io'],
      ['controller', 'update', 'devices.wasmbed.io'], // finalizer
      ['controller', 'update', 'applications.wasmbed.io', 'status'],
      ['controller', 'update', 'gateways.wasmbed.io', 'status'],
      ['controller', 'get', 'configmaps'],
      ['controller', 'update', 'leases.coordination.k8s.io/wasmbed-controller'],
      ['worker', 'delete', 'devices.wasmbed.io'],
      ['worker', 'update', 'devices.wasmbed.io', 'status'],
      ['gateway', 'create', 'gateways.wasmbed.io'],
      ['gateway', 'update', 'devices.wasmbed.io', 'status'],
      ['web', 'create', 'devices.wasmbed.io'],
      ['web', 'update', 'applications.wasmbed.io'],
      ['host', 'get', 'devices.wasmbed.io'],
      ['host', 'update', 'devices.wasmbed.io', 'status'], // steps and identity
    ];
    for (const [sa, verb, resource, sub] of needed) {
      expect(await can(sa, verb, resource, sub), `${sa} ${verb} ${resource} ${sub ?? ''}`).toBe('yes');
    }
    // ...and what it must not have.
    const denied: [string, string, string, string?][] = [
      ['controller', 'create', 'devices.wasmbed.io'],
      ['controller', 'delete', 'applications.wasmbed.io'],
      ['controller', 'update', 'gateways.wasmbed.io'], // status only
      ['controller', 'list', 'secrets'],
      ['controller', 'update', 'leases.coordination.k8s.io/someone-else'],
      ['gateway', 'delete', 'devices.wasmbed.io'],
      ['gateway', 'update', 'devices.wasmbed.io'], // status only
      ['web', 'update', 'devices.wasmbed.io'],
      ['web', 'get', 'secrets'],
      ['worker', 'delete', 'gateways.wasmbed.io'],
      ['worker', 'create', 'pods'],
      ['host', 'create', 'devices.wasmbed.io'],
      ['host', 'update', 'devices.wasmbed.io'], // status only
      ['host', 'get', 'secrets'],
    ];
    for (const [sa, verb, resource, sub] of denied) {
      expect(await can(sa, verb, resource, sub), `${sa} must not ${verb} ${resource} ${sub ?? ''}`).toBe(
        'no',
      );
    }
    // Nothing cluster-wide: a Role in wasmbed grants nothing in another namespace.
    const elsewhere = await cluster.kubectl([
      'auth',
      'can-i',
      'list',
      'devices.wasmbed.io',
      '-n',
      'default',
      '--as=system:serviceaccount:wasmbed:wasmbed-controller',
    ]);
    expect(elsewhere.stdout.trim()).toBe('no');
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

  it('an Application CR with its module in a ConfigMap deploys to the Device CR; status shows Running counts', async () => {
    const file = path.join(DIST_DIR, 'hello.wasm');
    const made = await cluster.kubectl(['create', 'configmap', 'hello-v1', `--from-file=app.wasm=${file}`]);
    expect(made.code, made.stderr).toBe(0);
    const applied = await cluster.kubectl(
      ['apply', '-f', '-'],
      applicationYaml('kapp', 'configMapKeyRef: { name: hello-v1, key: app.wasm }'),
    );
    expect(applied.code, applied.stderr).toBe(0);
    const app = await waitApp('kapp', (a) => a.status?.phase === 'Running');

    expect(app.metadata.finalizers).toContain('wasmbed.io/deprovision');
    expect(app.status).toMatchObject({
      observedGeneration: 1,
      workflowId: 'deploy-kapp',
      counts: { targeted: 1, running: 1, failed: 0, pending: 0 },
      resolvedModule: { sha256: sha256Hex(fs.readFileSync(file)), size: fs.statSync(file).size },
      currentModule: { sha256: sha256Hex(fs.readFileSync(file)) },
    });
    expect(condition(app, 'Reconciled')).toMatchObject({ status: 'True', reason: 'RolloutStarted' });
    expect(Object.keys(app.status.devices)).toEqual(['kdev-a']);
    expect((await getDevice('kdev-a')).status.apps.kapp.state).toMatch(/Running|Exited/);

    // One code path: the REST API sees the CR with the resolved module, like one it created.
    const viaApi = await platform.api('GET', '/api/v1/applications/kapp');
    expect(viaApi.body.spec.module).toEqual(app.status.resolvedModule);

    const table = await cluster.kubectl(['get', 'applications']);
    const [header, ...rows] = table.stdout.trim().split('\n');
    expect(header!.split(/\s+/)).toEqual(['NAME', 'PHASE', 'RUNNING', 'TARGETED', 'AGE']);
    expect(
      rows
        .find((r) => r.startsWith('kapp '))!
        .split(/\s+/)
        .slice(0, 4),
    ).toEqual(['kapp', 'Running', '1', '1']);
    expect(await runsOf('deploy-kapp')).toBe(1);
  });

  it('a spec change rolls out a new version the way PUT does; bad modules get a clear condition', async () => {
    const before = await getApp('kapp');
    // Version 2: a module uploaded to the platform, referenced by hash.
    const blinky = fs.readFileSync(path.join(DIST_DIR, 'blinky.wasm'));
    const uploaded = await fetch(`${platform.webUrl}/api/v1/modules`, {
      method: 'POST',
      headers: { 'content-type': 'application/wasm' },
      body: blinky,
    });
    expect(uploaded.status).toBe(201);
    const { sha256 } = (await uploaded.json()) as { sha256: string };
    const patched = await cluster.kubectl([
      'patch',
      'application',
      'kapp',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { module: { configMapKeyRef: null, sha256 } } }),
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    const app = await waitApp(
      'kapp',
      (a) =>
        a.status?.observedGeneration === 2 &&
        a.status.phase === 'Running' &&
        a.status.currentModule?.sha256 === sha256,
    );
    expect(app.status.previousModule).toEqual(before.status.currentModule);
    expect(app.status.resolvedModule).toEqual({ sha256, size: blinky.length });
    expect(await runsOf('deploy-kapp')).toBe(2);

    // PUT through the REST API changes the CR (generation 3); the controller sees that change
    // as fast as the API starts its rollout, and still there is one rollout for it.
    const hello = fs.readFileSync(path.join(DIST_DIR, 'hello.wasm'));
    const put = await platform.api('PUT', '/api/v1/applications/kapp', {
      name: 'kapp',
      wasm: hello.toString('base64'),
      target: { devices: ['kdev-a'] },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(202);
    const v3 = await waitApp(
      'kapp',
      (a) =>
        a.status?.observedGeneration === 3 &&
        a.status.phase === 'Running' &&
        a.status.currentModule?.sha256 === sha256Hex(hello),
    );
    expect(v3.spec.module).toEqual({ sha256: sha256Hex(hello), size: hello.length });
    expect(v3.status.resolvedModule).toEqual(v3.spec.module);
    // Whichever of the two got there first started it; the other saw the run and left it.
    expect(['AlreadyStarted', 'RolloutStarted']).toContain(condition(v3, 'Reconciled').reason);
    expect(await runsOf('deploy-kapp')).toBe(3);

    // Not WebAssembly: refused before any device sees it; the generation counts as handled.
    const junk = path.join(cluster.dir, 'junk.wasm');
    fs.writeFileSync(junk, Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]));
    expect(
      (await cluster.kubectl(['create', 'configmap', 'junk', `--from-file=app.wasm=${junk}`])).code,
    ).toBe(0);
    await cluster.kubectl(
      ['apply', '-f', '-'],
      applicationYaml('kapp-junk', 'configMapKeyRef: { name: junk, key: app.wasm }'),
    );
    const junkApp = await waitApp('kapp-junk', (a) => condition(a, 'Reconciled')?.reason === 'InvalidSpec');
    expect(junkApp.status.phase).toBe('Failed');
    expect(condition(junkApp, 'Reconciled')!.message).toMatch(/not valid WebAssembly/);
    expect(junkApp.status.observedGeneration).toBe(1);
    // The dashboard lists it, without a module to show.
    const page = await fetch(`${platform.webUrl}/applications`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/kapp-junk[\s\S]*module not resolved yet/);

    // A ConfigMap that is not there yet is waited for (kubectl apply -f dir/ has no order)...
    await cluster.kubectl(
      ['apply', '-f', '-'],
      applicationYaml('kapp-late', 'configMapKeyRef: { name: late, key: app.wasm }'),
    );
    const late = await waitApp('kapp-late', (a) => condition(a, 'Reconciled')?.reason === 'ModuleNotFound');
    expect(condition(late, 'Reconciled')!.message).toMatch(/ConfigMap "late" .* does not exist/);
    // ...and used once it is.
    const helloFile = path.join(DIST_DIR, 'hello.wasm');
    const lateMap = await cluster.kubectl([
      'create',
      'configmap',
      'late',
      `--from-file=app.wasm=${helloFile}`,
    ]);
    expect(lateMap.code, lateMap.stderr).toBe(0);
    await waitApp('kapp-late', (a) => a.status?.phase === 'Running');
    // Same for a module referenced by hash before it is uploaded.
    const sensor = fs.readFileSync(path.join(DIST_DIR, 'sensor.wasm'));
    const early = applicationYaml('kapp-early', `sha256: "${sha256Hex(sensor)}"`);
    expect((await cluster.kubectl(['apply', '-f', '-'], early)).code).toBe(0);
    const waiting = await waitApp(
      'kapp-early',
      (a) => condition(a, 'Reconciled')?.reason === 'ModuleNotFound',
    );
    expect(condition(waiting, 'Reconciled').message).toMatch(/no uploaded module with sha256/);
    const upload = await fetch(`${platform.webUrl}/api/v1/modules`, {
      method: 'POST',
      headers: { 'content-type': 'application/wasm' },
      body: sensor,
    });
    expect(upload.status).toBe(201);
    await waitApp('kapp-early', (a) => a.status?.phase === 'Running');

    expect(await runsOf('deploy-kapp-junk')).toBe(0);
    const cleanup = await cluster.kubectl([
      'delete',
      'applications',
      'kapp-junk',
      'kapp-late',
      'kapp-early',
      '--wait=true',
      '--timeout=60s',
    ]);
    expect(cleanup.code, cleanup.stderr).toBe(0);
  });

  it('deleting the Application undeploys it from its devices, then removes the finalizer', async () => {
    const before = await getApp('kapp');
    const deleted = await cluster.kubectl(['delete', 'application', 'kapp', '--wait=false']);
    expect(deleted.code, deleted.stderr).toBe(0);
    await waitFor('kapp to be gone', async () => (await getApp('kapp')) === undefined, 60_000, 250);
    // The run's last step deletes the resource, so the run itself ends just after.
    const handle = platform.client.workflow.getHandle('undeploy-kapp');
    await handle.result();
    const run = await handle.describe();
    expect(run.status.name).toBe('COMPLETED');
    expect(run.memo).toMatchObject({ uid: before.metadata.uid });
    expect(await runsOf('undeploy-kapp')).toBe(1);
    expect((await getDevice('kdev-a')).status.apps.kapp).toBeUndefined();
    const deploy = await platform.client.workflow.getHandle('deploy-kapp').describe();
    expect(deploy.status.name).not.toBe('RUNNING');
    expect((await platform.api('GET', '/api/v1/applications/kapp')).status).toBe(404);
  });

  it('kubectl get gateways shows the live gateway; one that dies or never ran is marked Unavailable', async () => {
    const live = await cluster.kubectl(['get', 'gateways']);
    const [header, ...rows] = live.stdout.trim().split('\n');
    expect(header!.split(/\s{2,}/)).toEqual(['NAME', 'PHASE', 'ENDPOINT', 'DEVICES', 'LAST SEEN', 'AGE']);
    // gateway-0 serves kdev-a.
    expect(rows.find((r) => r.startsWith('gateway-0'))).toMatch(
      /^gateway-0\s+Ready\s+127\.0\.0\.1:\d+\s+1\s/,
    );

    // A second gateway process registers itself, then is killed: it cannot say so itself.
    const [port, healthPort] = await Promise.all([freePort(), freePort()]);
    const second = await platform.start('gateway', {
      name: 'gateway-k2',
      env: {
        WASMBED_GATEWAY_NAME: 'gateway-k2',
        WASMBED_GATEWAY_PORT: String(port),
        WASMBED_GATEWAY_HEALTH_PORT: String(healthPort),
      },
    });
    await waitFor(
      'gateway-k2 Ready',
      async () => (await getGateway('gateway-k2'))?.status?.phase === 'Ready',
    );
    // A Gateway applied by hand, with no process behind it.
    const ghost = await cluster.kubectl(
      ['apply', '-f', '-'],
      'apiVersion: wasmbed.io/v1alpha1\nkind: Gateway\nmetadata: { name: ghost }\nspec: { endpoint: "10.0.0.9:8081" }\n',
    );
    expect(ghost.code, ghost.stderr).toBe(0);
    second.kill('SIGKILL');

    const dead = await waitFor(
      'gateway-k2 Unavailable',
      async () => {
        const g = await getGateway('gateway-k2');
        return g?.status?.phase === 'Unavailable' ? g : undefined;
      },
      60_000,
      500,
    );
    expect(dead.status.connectedDevices).toBe(0);
    expect(condition(dead, 'Ready')).toMatchObject({ status: 'False', reason: 'RegistrationStale' });
    const never = await waitFor('ghost Unavailable', async () => {
      const g = await getGateway('ghost');
      return g?.status?.phase === 'Unavailable' ? g : undefined;
    });
    expect(condition(never, 'Ready')).toMatchObject({ status: 'False', reason: 'NeverRegistered' });
    // The live one stays Ready.
    expect((await getGateway('gateway-0')).status.phase).toBe('Ready');
    const table = await cluster.kubectl(['get', 'wgw']);
    expect(table.stdout).toMatch(/gateway-k2\s+Unavailable\s+127\.0\.0\.1:\d+\s+0\s/);
    expect((await cluster.kubectl(['delete', 'gateway', 'ghost', 'gateway-k2'])).code).toBe(0);
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
    // The run's last step deletes the resource, so the run itself ends just after.
    const deprovision = platform.client.workflow.getHandle('deprovision-kdev-a');
    await deprovision.result();
    const description = await deprovision.describe();
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
    // An Application for it too, which waits for its device before rolling out.
    const blinkySha = sha256Hex(fs.readFileSync(path.join(DIST_DIR, 'blinky.wasm')));
    const cut = cluster.proxy.cut(5000);
    await new Promise((r) => setTimeout(r, 500));
    expect((await cluster.kubectl(['apply', '-f', '-'], deviceYaml('kdev-b'))).code).toBe(0);
    const appB = applicationYaml('kapp-b', `sha256: "${blinkySha}"`, 'devices: [kdev-b]');
    expect((await cluster.kubectl(['apply', '-f', '-'], appB)).code).toBe(0);
    await cut;
    await waitConnected('kdev-b');
    await waitApp('kapp-b', (a) => a.status?.phase === 'Running');
    expect(controllerA.lines.some((l) => /watch failed; reconnecting/.test(l))).toBe(true);
    await waitFor('410 Gone re-list', () => controllerA.lines.some((l) => /410 Gone/.test(l)), 30_000);
    expect(standby.lines.some((l) => /became leader/.test(l))).toBe(false);

    // Kill the leader as it starts work on a new device; the standby takes over after the lease.
    expect((await cluster.kubectl(['apply', '-f', '-'], deviceYaml('kdev-c'))).code).toBe(0);
    const appC = applicationYaml('kapp-c', `sha256: "${blinkySha}"`, 'devices: [kdev-c]');
    expect((await cluster.kubectl(['apply', '-f', '-'], appC)).code).toBe(0);
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
    await waitApp('kapp-c', (a) => a.status?.phase === 'Running');
    // A change made after the failover is reconciled by the new leader, from its own cache: a
    // Gateway applied by hand with no process behind it is marked Unavailable.
    const afterFailover = await cluster.kubectl(
      ['apply', '-f', '-'],
      'apiVersion: wasmbed.io/v1alpha1\nkind: Gateway\nmetadata: { name: ghost-after }\nspec: { endpoint: "10.0.0.8:8081" }\n',
    );
    expect(afterFailover.code, afterFailover.stderr).toBe(0);
    const ghostAfter = await waitFor(
      'ghost-after Unavailable',
      async () => {
        const g = await getGateway('ghost-after');
        return g?.status?.phase === 'Unavailable' ? g : undefined;
      },
      60_000,
      500,
    );
    expect(condition(ghostAfter, 'Ready')).toMatchObject({ status: 'False', reason: 'NeverRegistered' });
    expect(standby.lines.some((l) => /gateway marked Unavailable/.test(l) && /ghost-after/.test(l))).toBe(
      true,
    );
    expect((await cluster.kubectl(['delete', 'gateway', 'ghost-after'])).code).toBe(0);

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
    // Applications: one rollout each; the one the first leader started is not started again.
    expect(await runsOf('deploy-kapp-b')).toBe(1);
    expect(await runsOf('deploy-kapp-c')).toBe(1);
    expect(standby.lines.filter((l) => /started rollout/.test(l) && /kapp-b/.test(l))).toHaveLength(0);
    expect(controllerA.lines.filter((l) => /started rollout/.test(l) && /kapp-b/.test(l))).toHaveLength(1);
    for (const name of ['kapp-b', 'kapp-c']) {
      const a = await getApp(name);
      expect(a.status).toMatchObject({ observedGeneration: 1, phase: 'Running', counts: { running: 1 } });
    }
    expect(platform.deviceProcesses('kdev-b')).toHaveLength(1);
    expect(platform.deviceProcesses('kdev-c')).toHaveLength(1);
    for (const name of ['kdev-b', 'kdev-c']) {
      const d = await getDevice(name);
      expect(d.status.observedGeneration).toBe(1);
      expect(d.status.phase).toBe('Connected');
    }

    // Clean up through the same path: deletion undeploys and deprovisions.
    const apps = await cluster.kubectl(['delete', 'applications', 'kapp-b', 'kapp-c', '--timeout=60s']);
    expect(apps.code, apps.stderr).toBe(0);
    expect(await runsOf('undeploy-kapp-b')).toBe(1);
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
