/**
 * Walking skeleton end to end: a real Temporal dev server, the real orchestrator, gateway
 * and web processes, real device processes and real mutual TLS.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTaskQueue, ORCHESTRATOR_TASK_QUEUE, paths } from '../common/config.js';
import { MCU_PROFILES } from '../common/mcu-profiles.js';
import type { Device } from '../common/resources.js';
import { CertificateAuthority, DeviceCertificates, SqliteCertificateRepository } from '../pki/index.js';
import { SqliteDeviceLogs } from '../store/sqlite-device-logs.js';
import { openDatabase } from '../store/sqlite.js';
import { DEVICE_ATTRIBUTE, PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { startWorkflow } from '../temporal/workflow-calls.js';
import { activitiesFromHistory, type Timeline } from '../web/timeline.js';
import { LIFECYCLE_START_PATCHES, PROVISIONING_ON_HOST_PATCHES } from '../workflows/patches.js';
import {
  deprovisionWorkflowId,
  lifecycleWorkflowId,
  prepareOnHostWorkflowId,
  PROVISIONING_STEPS,
  provisionDeviceWorkflow,
  provisionWorkflowId,
} from '../workflows/contracts/index.js';
import { filesHoldingKey } from './support/key-material.js';
import { patchMarkersOf } from './support/patch-markers.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform?.stop();
});

async function getDevice(name: string): Promise<Device | undefined> {
  const res = await platform.api('GET', `/api/v1/devices/${name}`);
  return res.status === 200 ? (res.body as Device) : undefined;
}

async function waitForPhase(name: string, phase: string, timeoutMs = 60_000): Promise<Device> {
  return waitFor(
    `${name} to be ${phase}`,
    async () => {
      const device = await getDevice(name);
      if (device?.status.phase === 'Failed' && phase !== 'Failed') {
        throw new Error(`device failed: ${device.status.message}`);
      }
      return device?.status.phase === phase ? device : undefined;
    },
    timeoutMs,
  );
}

function certificates() {
  const db = openDatabase(paths.db(platform.home));
  return { repo: new SqliteCertificateRepository(db), close: () => db.close() };
}

async function gatewaySessions(): Promise<string[]> {
  const res = await fetch(`${platform.gatewayHealthUrl}/healthz`);
  return ((await res.json()) as { devices: string[] }).devices;
}

describe('provisioning a virtual device', () => {
  it('goes Pending → Provisioning → Connected, and heartbeats update lastHeartbeat', async () => {
    const created = await platform.api('POST', '/api/v1/devices', { name: 'dev-1' });
    expect(created.status).toBe(202);
    expect(created.body).toEqual({ name: 'dev-1', workflowId: 'provision-dev-1' });

    const seen = new Set<string>();
    const connected = await waitFor(
      'dev-1 Connected',
      async () => {
        const device = await getDevice('dev-1');
        if (device) seen.add(device.status.phase);
        return device?.status.phase === 'Connected' ? device : undefined;
      },
      60_000,
      20,
    );
    expect(seen.has('Provisioning') || seen.has('Pending')).toBe(true);
    expect(connected.spec.mcuType).toBe('Stm32F746gDisco');
    expect(connected.status.gateway?.name).toBe('gateway-0');
    expect(connected.status.steps?.map((s) => [s.name, s.state])).toEqual([
      ['issueCertificate', 'Succeeded'],
      ['prepareVolume', 'Succeeded'],
      ['copyFirmware', 'Succeeded'],
      ['startEmulator', 'Succeeded'],
      ['assignGateway', 'Succeeded'],
      ['writeEndpoint', 'Succeeded'],
      ['awaitSession', 'Succeeded'],
    ]);
    expect(connected.status.identity?.certSerial).toMatch(/^[0-9a-f]+$/);

    // The gateway holds the session, attributed to the certificate's CN.
    expect(await gatewaySessions()).toContain('dev-1');

    // Heartbeats (every 500 ms in tests) keep moving lastHeartbeat forward.
    const first = await waitFor('a heartbeat', async () => (await getDevice('dev-1'))?.status.lastHeartbeat);
    const later = await waitFor('a later heartbeat', async () => {
      const hb = (await getDevice('dev-1'))?.status.lastHeartbeat;
      return hb && Date.parse(hb) > Date.parse(first) ? hb : undefined;
    });
    expect(Date.parse(later)).toBeGreaterThan(Date.parse(first));

    // What the device reported of itself reaches its status, with the board's module budget.
    const info = await waitFor('deviceInfo', async () => (await getDevice('dev-1'))?.status.deviceInfo);
    expect(info).toMatchObject({
      mcuType: 'Stm32F746gDisco',
      maxAppSize: MCU_PROFILES.Stm32F746gDisco.apps.maxAppSize,
    });
    expect(info.freeMemory).toBeGreaterThan(0);

    // The firmware image in the volume is the verified copy; the memory image holds the endpoint.
    const volume = paths.volume(platform.home, 'dev-1');
    expect(fs.existsSync(path.join(volume, 'firmware.img'))).toBe(true);
    expect(
      fs.readFileSync(path.join(volume, 'memory.bin')).includes(`127.0.0.1:${platform.gatewayPort}`),
    ).toBe(true);
    expect(platform.deviceProcesses('dev-1')).toHaveLength(1);

    // The workflow is findable in Temporal by its ID and by the custom search attribute.
    // (Connected is written just before the run hands the device to its lifecycle and ends.)
    const run = platform.client.workflow.getHandle(provisionWorkflowId('dev-1'));
    await run.result();
    expect((await run.describe()).status.name).toBe('COMPLETED');

    // The API started the run on the device's host (its own task queue): every step but the
    // session wait ran there as a local activity, with no child workflow and a single activity
    // round trip through the server (the gateway's).
    const described = await run.describe();
    expect(described.taskQueue).toBe(hostTaskQueue(connected.status.host!));
    const events = (await run.fetchHistory()).events ?? [];
    const steps = activitiesFromHistory(events as never).filter((a) =>
      (PROVISIONING_STEPS as readonly string[]).includes(a.name),
    );
    expect(steps.map((a) => [a.name, a.state])).toEqual(
      PROVISIONING_STEPS.map((step) => [step, 'Succeeded']),
    );
    expect(
      events.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean),
    ).toEqual(['awaitDeviceSession']);
    expect(
      events.filter(
        (e) =>
          e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name === 'prepareDeviceOnHost',
      ),
    ).toEqual([]);
    // Its lifecycle runs on the orchestrator's queue, which can move it to another host. The run's
    // startLifecycle activity started it, not a child start (which cost the run a workflow task
    // more), with the search attributes the Web UI filters by.
    expect(events.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)).toEqual([]);
    expect(activitiesFromHistory(events as never).map((a) => [a.name, a.state])).toContainEqual([
      'startLifecycle',
      'Succeeded',
    ]);
    const lifecycleHandle = platform.client.workflow.getHandle(lifecycleWorkflowId('dev-1'));
    const lifecycle = await lifecycleHandle.describe();
    expect(lifecycle.taskQueue).toBe(ORCHESTRATOR_TASK_QUEUE);
    expect(lifecycle.status.name).toBe('RUNNING');
    expect(lifecycle.typedSearchAttributes.get(DEVICE_ATTRIBUTE)).toBe('dev-1');
    expect(lifecycle.typedSearchAttributes.get(PHASE_ATTRIBUTE)).toBe('Connected');
    // The patch markers both runs record are the ones the bench's empty workflow of this shape
    // records (bench/support/empty-provisioning.ts), which reads them from workflows/patches.ts.
    expect(patchMarkersOf(events)).toEqual(PROVISIONING_ON_HOST_PATCHES);
    // (The lifecycle's first workflow task may still be on its way.)
    const lifecycleMarkers = await waitFor('the lifecycle to record its markers', async () => {
      const markers = patchMarkersOf((await lifecycleHandle.fetchHistory()).events ?? []);
      return markers.length >= LIFECYCLE_START_PATCHES.length && markers;
    });
    expect(lifecycleMarkers).toEqual(LIFECYCLE_START_PATCHES);
    // The dashboard's timeline reads every step from the history.
    const timeline = (await platform.api('GET', '/api/v1/devices/dev-1/timeline')).body as Timeline;
    expect(timeline.source).toBe('history');
    expect(timeline.steps.map((s) => [s.name, s.state])).toEqual(
      PROVISIONING_STEPS.map((step) => [step, 'Succeeded']),
    );
  });

  it('runs the host steps as a child on the device host when a run starts on the orchestrator queue (as the Kubernetes controller starts it)', async () => {
    const run = await startWorkflow(platform.client, provisionDeviceWorkflow, {
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      workflowId: provisionWorkflowId('dev-orch'),
      args: [{ name: 'dev-orch' }],
    });
    await run.result();
    const device = await waitForPhase('dev-orch', 'Connected');
    const child = platform.client.workflow.getHandle(prepareOnHostWorkflowId('dev-orch'));
    const described = await child.describe();
    expect(described.taskQueue).toBe(hostTaskQueue(device.status.host!));
    expect(described.status.name).toBe('COMPLETED');
    expect(described.typedSearchAttributes.get(DEVICE_ATTRIBUTE)).toBe('dev-orch'); // findable in the Web UI
    const childEvents = (await child.fetchHistory()).events ?? [];
    expect(activitiesFromHistory(childEvents as never).map((a) => [a.name, a.state])).toEqual([
      ['issueCertificate', 'Succeeded'],
      ['prepareVolume', 'Succeeded'],
      ['copyFirmware', 'Succeeded'],
      ['startEmulator', 'Succeeded'],
    ]);
    expect(childEvents.filter((e) => e.activityTaskScheduledEventAttributes)).toEqual([]);
    // The timeline reads the host's steps from the child's history and the rest from the run's.
    const timeline = (await platform.api('GET', '/api/v1/devices/dev-orch/timeline')).body as Timeline;
    expect(timeline.steps.map((s) => [s.name, s.state])).toEqual(
      PROVISIONING_STEPS.map((step) => [step, 'Succeeded']),
    );
  });

  it('keeps the device key in its volume, 0600 and EC P-256, and never in the store or a log', async () => {
    await waitForPhase('dev-1', 'Connected');
    const volume = paths.volume(platform.home, 'dev-1');
    const keyFile = path.join(volume, 'device.key');
    const memoryFile = path.join(volume, 'memory.bin');
    expect(fs.statSync(volume).mode & 0o777).toBe(0o700);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(memoryFile).mode & 0o777).toBe(0o600);
    const keyPem = fs.readFileSync(keyFile, 'utf8');
    const key = crypto.createPrivateKey(keyPem);
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

    // The certificate is for that key, and the certificate table holds no key for it.
    const certs = certificates();
    let active;
    try {
      active = (await certs.repo.findActive('dev-1'))!;
    } finally {
      certs.close();
    }
    expect(active.keyPem).toBeNull();
    expect(new crypto.X509Certificate(active.certPem).checkPrivateKey(key)).toBe(true);
    expect((await getDevice('dev-1'))?.status.identity?.spkiSha256).toBe(active.spkiSha256);

    // Only the key file and the memory image the device boots from hold the key: not the
    // database (or its WAL), not Temporal's, not a log file; nor any process's output.
    const scan = filesHoldingKey(platform.home, keyPem);
    expect(scan.scanned.some((f) => f.endsWith('wasmbed.db'))).toBe(true);
    expect(scan.holding.sort()).toEqual([keyFile, memoryFile].sort());
    const output = [...platform.logs.values()].flat().join('\n');
    expect(output.length).toBeGreaterThan(0);
    expect(output).not.toContain(keyPem.split('\n')[1]!);
    expect(output).not.toContain('PRIVATE KEY');
  });

  it('connects a device whose volume holds an RSA-2048 key, with that key', async () => {
    const volume = paths.volume(platform.home, 'dev-rsa');
    fs.mkdirSync(volume, { recursive: true, mode: 0o700 });
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    fs.writeFileSync(path.join(volume, 'device.key'), rsa.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    expect((await platform.api('POST', '/api/v1/devices', { name: 'dev-rsa' })).status).toBe(202);
    const connected = await waitForPhase('dev-rsa', 'Connected');
    expect(await gatewaySessions()).toContain('dev-rsa');
    const certs = certificates();
    try {
      const active = (await certs.repo.findActive('dev-rsa'))!;
      const cert = new crypto.X509Certificate(active.certPem);
      expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
      expect(cert.checkPrivateKey(rsa)).toBe(true);
      expect(connected.status.identity?.spkiSha256).toBe(active.spkiSha256);
      expect(active.keyPem).toBeNull();
    } finally {
      certs.close();
    }
  });

  it('does not create a second device for the same name', async () => {
    await waitForPhase('dev-1', 'Connected');
    const again = await platform.api('POST', '/api/v1/devices', { name: 'dev-1' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('AlreadyExists');
    const list = await platform.api('GET', '/api/v1/devices');
    expect(list.body.items.filter((d: Device) => d.metadata.name === 'dev-1')).toHaveLength(1);
    expect(platform.deviceProcesses('dev-1')).toHaveLength(1);
    const certs = certificates();
    try {
      expect(await certs.repo.listForDevice('dev-1')).toHaveLength(1);
    } finally {
      certs.close();
    }
  });

  it('refuses TLS clients without a certificate or with one from another CA, and keeps serving the device', async () => {
    const caPem = fs.readFileSync(path.join(paths.pki(platform.home), 'ca.crt'), 'utf8');
    const handshake = (options: tls.ConnectionOptions) =>
      new Promise<'connected' | 'refused'>((resolve) => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port: platform.gatewayPort,
          ca: [caPem],
          ...options,
        });
        // With TLS 1.3 the server's verdict on our certificate arrives after secureConnect,
        // so a refused client sees its socket closed or reset instead of a working session.
        let settled = false;
        const done = (result: 'connected' | 'refused') => {
          if (settled) return;
          settled = true;
          socket.destroy();
          resolve(result);
        };
        socket.on('secureConnect', () => {
          setTimeout(
            () => done(socket.destroyed || socket.readyState !== 'open' ? 'refused' : 'connected'),
            500,
          );
        });
        socket.on('error', () => done('refused'));
        socket.on('close', () => done('refused'));
      });

    // Control: a certificate from the platform CA gets through, so "refused" below means refused.
    const platformCa = await CertificateAuthority.loadOrCreate(paths.pki(platform.home));
    const certs = certificates();
    const probe = await new DeviceCertificates(platformCa, certs.repo).issue('probe');
    certs.close();
    expect(await handshake({ cert: probe.certPem, key: probe.keyPem! })).toBe('connected');

    // A certificate from the right CA that the platform never recorded is refused too.
    const unrecorded = platformCa.issueClientCertificate({ commonName: 'dev-1' });
    expect(await handshake({ cert: unrecorded.certPem, key: unrecorded.keyPem })).toBe('refused');

    expect(await handshake({})).toBe('refused');

    const otherCaDir = fs.mkdtempSync(path.join(platform.home, 'other-ca-'));
    const otherCa = await CertificateAuthority.loadOrCreate(otherCaDir);
    const impostor = otherCa.issueClientCertificate({ commonName: 'dev-1' });
    expect(await handshake({ cert: impostor.certPem, key: impostor.keyPem })).toBe('refused');

    const metrics = await (await fetch(`${platform.gatewayHealthUrl}/metrics`)).text();
    expect(metrics).toMatch(/wasmbed_gateway_handshakes_rejected_total\{gateway="gateway-0"\} [1-9]/);

    // The real device is still connected and heartbeating.
    expect(await gatewaySessions()).toContain('dev-1');
    const before = (await getDevice('dev-1'))!.status.lastHeartbeat!;
    await waitFor('heartbeat after the attacks', async () => {
      const hb = (await getDevice('dev-1'))?.status.lastHeartbeat;
      return hb && Date.parse(hb) > Date.parse(before);
    });
    expect((await getDevice('dev-1'))!.status.phase).toBe('Connected');
  });

  it('rejects an unknown mcuType with a 400 naming the field, and starts no workflow', async () => {
    const res = await platform.api('POST', '/api/v1/devices', { name: 'bad-mcu', mcuType: 'Esp32' });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('mcuType');
    expect(res.body.error.message).toMatch(/mcuType "Esp32" is unknown/);
    expect(await getDevice('bad-mcu')).toBeUndefined();
    await expect(
      platform.client.workflow.getHandle(provisionWorkflowId('bad-mcu')).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);

    const badName = await platform.api('POST', '/api/v1/devices', { name: 'Not_A_Label' });
    expect(badName.status).toBe(400);
    expect(badName.body.error.field).toBe('name');
  });

  it('fails a directly started workflow with an unknown mcuType at once, without retrying', async () => {
    const handle = await startWorkflow(platform.client, provisionDeviceWorkflow, {
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      workflowId: provisionWorkflowId('direct-bad'),
      args: [{ name: 'direct-bad', mcuType: 'Esp32' }],
    });
    const error = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).nonRetryable).toBe(true);
    expect((cause as ApplicationFailure).type).toBe('InvalidInput');
    expect(cause!.message).toMatch(/mcuType/);
    const history = await handle.fetchHistory();
    const scheduled = history.events?.filter((e) => e.activityTaskScheduledEventAttributes) ?? [];
    expect(scheduled).toHaveLength(0);
    expect(await getDevice('direct-bad')).toBeUndefined();
  });

  it('DELETE stops the process, revokes the certificate, removes the volume, the device and its log', async () => {
    await waitForPhase('dev-1', 'Connected');
    const serial = (await getDevice('dev-1'))!.status.identity!.certSerial;
    // A line in its log (as its UART or an app would write), which must go with it.
    const logDb = openDatabase(paths.db(platform.home));
    const deviceLogs = new SqliteDeviceLogs(logDb);
    await deviceLogs.append({
      device: 'dev-1',
      time: new Date().toISOString(),
      appId: null,
      kind: 'log',
      level: 1,
      message: '[uart] a line of the first dev-1',
    });
    const logged = await platform.api('GET', '/api/v1/devices/dev-1/logs');
    expect(logged.body.items.map((e: { message: string }) => e.message)).toContain(
      '[uart] a line of the first dev-1',
    );
    const res = await platform.api('DELETE', '/api/v1/devices/dev-1');
    expect(res.status).toBe(202);
    expect(res.body.workflowId).toBe('deprovision-dev-1');
    await waitFor(
      'dev-1 to disappear',
      async () => (await platform.api('GET', '/api/v1/devices/dev-1')).status === 404,
    );
    await platform.client.workflow.getHandle(deprovisionWorkflowId('dev-1')).result();

    expect(platform.deviceProcesses('dev-1')).toHaveLength(0);
    expect(fs.existsSync(paths.volume(platform.home, 'dev-1'))).toBe(false);
    const certs = certificates();
    try {
      expect(await certs.repo.countActive('dev-1')).toBe(0);
      expect(await certs.repo.isRevoked(serial)).toBe(true);
    } finally {
      certs.close();
    }
    expect(await gatewaySessions()).not.toContain('dev-1');
    const list = await platform.api('GET', '/api/v1/devices');
    expect(list.body.items.map((d: Device) => d.metadata.name)).not.toContain('dev-1');
    // A device created again under the name would otherwise have shown its predecessor's lines.
    try {
      expect(await deviceLogs.list('dev-1')).toEqual([]);
    } finally {
      logDb.close();
    }
  });
});
