/**
 * Apps end to end: real example modules (built from AssemblyScript), a real platform and
 * real virtual devices. Deploy to one device, a labelled group and the whole fleet, with
 * AllAtOnce, Rolling and Canary; a bad module never reaches a device; a failing canary
 * rolls back by itself; a runaway app is stopped while its device stays up; an undeployed app's
 * module is removed once no Application uses it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../common/config.js';
import type { Application, Device } from '../common/resources.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { sha256Hex } from '../store/module-store.js';
import { deployApplicationWorkflow, deployWorkflowId, stopWorkflowId } from '../workflows/contracts/index.js';
import { workflowHandle } from '../temporal/workflow-calls.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';
import { withCustomSection } from './support/wasm-padding.js';

let platform: TestPlatform;
const UART_LOG_MAX_BYTES = 4096;
const MODULE_RETENTION_MS = 3000;
const wasm = (name: string) => fs.readFileSync(path.join(DIST_DIR, `${name}.wasm`)).toString('base64');

beforeAll(async () => {
  await buildApps({ log: () => {} });
  // A small UART log bound, so a test's app can roll one over (the default is 1 MiB); a module
  // retention of seconds, so the orchestrator removes an undeployed app's module within a test.
  platform = await startTestPlatform({
    env: {
      WASMBED_UART_LOG_MAX_BYTES: String(UART_LOG_MAX_BYTES),
      WASMBED_MODULE_RETENTION_MS: String(MODULE_RETENTION_MS),
    },
  });
  const devices = [
    { name: 'lab-1', labels: { group: 'lab' } },
    { name: 'lab-2', labels: { group: 'lab' } },
    { name: 'field-1', labels: { group: 'field' } },
  ];
  for (const d of devices) expect((await platform.api('POST', '/api/v1/devices', d)).status).toBe(202);
  for (const d of devices) {
    await waitFor(`${d.name} Connected`, async () => {
      const res = await platform.api('GET', `/api/v1/devices/${d.name}`);
      return res.body.status.phase === 'Connected';
    });
  }
});
afterAll(async () => {
  await platform?.stop();
});

async function app(name: string): Promise<Application> {
  return (await platform.api('GET', `/api/v1/applications/${name}`)).body as Application;
}

async function settled(name: string): Promise<Application> {
  return waitFor(`${name} to settle`, async () => {
    const a = await app(name);
    return ['Running', 'PartiallyRunning', 'Failed', 'RolledBack'].includes(a.status?.phase) ? a : undefined;
  });
}

async function logs(device: string, appId?: string): Promise<string[]> {
  const query = appId ? `?app=${appId}` : '';
  const res = await platform.api('GET', `/api/v1/devices/${device}/logs${query}`);
  return res.body.items.map((e: { message: string }) => e.message);
}

/** Creates a device whose gateway is not running: it stays in provisioning, placement retrying. */
async function createdWaitingForGateway(name: string, gateway: string): Promise<void> {
  const created = await platform.api('POST', '/api/v1/devices', { name, gateway });
  expect(created.status).toBe(202);
  await waitFor(`${name} provisioning`, async () => {
    const d = (await platform.api('GET', `/api/v1/devices/${name}`)).body as Device;
    return d.status?.steps?.find((s) => s.name === 'assignGateway')?.state === 'Running';
  });
}

describe('deploying apps', () => {
  it('runs hello on one device and shows its output in the device log', async () => {
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'hello',
      wasm: wasm('hello'),
      target: { devices: ['lab-1'] },
      env: { GREETING: 'hi from the test' },
      args: ['one'],
    });
    expect(res.status).toBe(202);
    expect(res.body.workflowId).toBe('deploy-hello');
    const a = await settled('hello');
    expect(a.status.phase).toBe('Running');
    expect(Object.keys(a.status.devices)).toEqual(['lab-1']);
    await waitFor('hello output', async () => (await logs('lab-1', 'hello')).includes('hi from the test'));
    expect(await logs('lab-1', 'hello')).toContain('arg 0: one');
    const device = (await platform.api('GET', '/api/v1/devices/lab-1')).body as Device;
    expect(['Running', 'Exited']).toContain((device.status.apps.hello as { state: string }).state);
    expect(await logs('lab-2', 'hello')).toEqual([]);
  });

  it('publishes sensor readings from a labelled group', async () => {
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'sensor',
      module: wasm('sensor'),
      target: { selector: { group: 'lab' } },
      env: { INTERVAL_MS: '100', TOPIC: 'lab/temp' },
    });
    expect(res.status).toBe(202);
    const a = await settled('sensor');
    expect(a.status.phase).toBe('Running');
    expect(Object.keys(a.status.devices).sort()).toEqual(['lab-1', 'lab-2']);
    for (const device of ['lab-1', 'lab-2']) {
      await waitFor(`${device} publishes`, async () =>
        (await logs(device, 'sensor')).some((m) => m.startsWith('lab/temp {"channel":0')),
      );
    }
  });

  it('rolls blinky out to the whole fleet one device at a time', async () => {
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'blinky',
      module: wasm('blinky'),
      target: { all: true },
      strategy: { type: 'Rolling', maxUnavailable: 1 },
    });
    expect(res.status).toBe(202);
    const a = await settled('blinky');
    expect(a.status.phase).toBe('Running');
    expect(a.status.counts).toMatchObject({ targeted: 3, running: 3, failed: 0 });
    // Rolling: each device's Running came after the previous one's.
    const since = ['field-1', 'lab-1', 'lab-2'].map((d) => Date.parse(a.status.devices[d]!.since));
    expect(since[1]).toBeGreaterThanOrEqual(since[0]!);
    expect(since[2]).toBeGreaterThanOrEqual(since[1]!);
    // Its rollout over, there is nothing to promote or abort: a conflict with the app's state
    // (409), not a missing resource — the Application is there.
    await workflowHandle(platform.client, deployApplicationWorkflow, deployWorkflowId('blinky')).result();
    for (const verb of ['promote', 'abort']) {
      const late = await platform.api('POST', `/api/v1/applications/blinky/${verb}`);
      expect(late.status).toBe(409);
      expect(late.body.error.message).toBe(
        `Application blinky has no rollout in progress to ${verb} (it is Running)`,
      );
    }
  });

  it('takes a multipart upload: the C app built with clang runs on a device', async () => {
    // counter-c is C: without clang this throws "counter-c: not built: C apps need clang …".
    const [built] = await buildApps({ only: ['counter-c'], log: () => {} });
    const upload = (
      fields: Record<string, string>,
      file: Uint8Array | null = fs.readFileSync(built!.file),
    ) => {
      const form = new FormData();
      if (file) form.append('wasm', new Blob([file as unknown as BlobPart]), 'counter-c.wasm');
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      return fetch(`${platform.webUrl}/api/v1/applications`, { method: 'POST', body: form }).then(
        async (r) => ({ status: r.status, body: await r.json() }),
      );
    };
    const res = await upload({
      name: 'counter',
      devices: 'lab-2',
      strategy: 'AllAtOnce',
      env: JSON.stringify({ PIN: '3', PERIOD_MS: '100', COUNT: '3' }),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toEqual({ name: 'counter', workflowId: 'deploy-counter' });
    const a = await settled('counter');
    expect(a.status.phase).toBe('Running');
    expect(a.spec.env).toEqual({ PIN: '3', PERIOD_MS: '100', COUNT: '3' });
    await waitFor('counter-c output', async () =>
      (await logs('lab-2', 'counter')).includes('counter-c: done'),
    );
    expect(await logs('lab-2', 'counter')).toEqual([
      'counter-c: started',
      'counter-c: 1 (pin high)',
      'counter-c: 2 (pin low)',
      'counter-c: 3 (pin high)',
      'counter-c: done',
    ]);

    // A new version as multipart too (PUT): same module, new settings.
    const updated = await fetch(`${platform.webUrl}/api/v1/applications/counter`, {
      method: 'PUT',
      body: (() => {
        const form = new FormData();
        form.append(
          'wasm',
          new Blob([fs.readFileSync(built!.file) as unknown as BlobPart]),
          'counter-c.wasm',
        );
        form.append('name', 'counter');
        form.append('devices', 'lab-2');
        form.append('env', JSON.stringify({ PERIOD_MS: '100', COUNT: '1' }));
        return form;
      })(),
    });
    expect(updated.status).toBe(202);
    await waitFor('counter v2 settled', async () => {
      const x = await app('counter');
      return x.status.phase === 'Running' && x.spec.env.COUNT === '1';
    });
    await waitFor('counter v2 output', async () => (await logs('lab-2', 'counter')).length === 8);
    expect((await logs('lab-2', 'counter')).slice(5)).toEqual([
      'counter-c: started',
      'counter-c: 1 (pin high)',
      'counter-c: done',
    ]);

    // What is wrong is named, and nothing is created.
    const noFile = await upload({ name: 'nofile', all: 'true' }, null);
    expect(noFile.status).toBe(400);
    expect(noFile.body.error).toMatchObject({ code: 'InvalidInput', field: 'wasm' });
    const badTarget = await upload({ name: 'badtarget', target: '{"devices": [lab-1]}' });
    expect(badTarget.status).toBe(400);
    expect(badTarget.body.error.field).toBe('target');
    expect(badTarget.body.error.message).toMatch(/target is not valid JSON/);
    const unknownDevice = await upload({ name: 'nodevice', devices: 'Not_A_Name' });
    expect(unknownDevice.status).toBe(400);
    expect(unknownDevice.body.error.field).toBe('target.devices[0]');
    const tooLarge = await upload({ name: 'huge', all: 'true' }, new Uint8Array(2 * 1024 * 1024));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error).toMatchObject({ code: 'TooLarge', field: 'body' });
    const notWasm = await upload({ name: 'notwasm', all: 'true' }, Buffer.from('not wasm'));
    expect(notWasm.status).toBe(422);
    expect(notWasm.body.error.message).toMatch(/not valid WebAssembly/);
    for (const name of ['nofile', 'badtarget', 'nodevice', 'huge', 'notwasm']) {
      expect((await platform.api('GET', `/api/v1/applications/${name}`)).status).toBe(404);
    }
  });

  it('refuses a bad module before it reaches any device', async () => {
    const garbage = await platform.api('POST', '/api/v1/applications', {
      name: 'garbage',
      module: Buffer.from('not wasm at all').toString('base64'),
      target: { all: true },
    });
    expect(garbage.status).toBe(422);
    expect(garbage.body.error).toMatchObject({ code: 'InvalidInput', field: 'wasm' });
    expect(garbage.body.error.message).toMatch(/not valid WebAssembly/);

    const noEntry = await platform.api('POST', '/api/v1/applications', {
      name: 'no-entry',
      module: wasm('hello'),
      entry: 'missing',
      target: { all: true },
    });
    expect(noEntry.status).toBe(422);
    expect(noEntry.body.error.message).toMatch(/missing/);

    const noTarget = await platform.api('POST', '/api/v1/applications', { name: 'x', module: wasm('hello') });
    expect(noTarget.status).toBe(400);
    expect(noTarget.body.error.field).toBe('target');

    expect((await platform.api('GET', '/api/v1/applications/garbage')).status).toBe(404);
    expect((await platform.api('GET', '/api/v1/devices/lab-1/logs?app=garbage')).body.items).toEqual([]);
  });

  it('rolls back a canary that traps, without touching the rest of the fleet', async () => {
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'faulty',
      module: wasm('faulty'),
      entry: 'trap',
      target: { all: true },
      strategy: { type: 'Canary', canary: 1, failureThreshold: 0 },
    });
    expect(res.status).toBe(202);
    const a = await settled('faulty');
    expect(a.status.phase).toBe('RolledBack');
    expect(a.status.message).toMatch(
      /rolled back to nothing \(stopped\): 1 of 3 devices failed \(threshold 0\)/,
    );
    expect(a.status.message).toMatch(/unreachable/);
    // The canary stopped it. The other two never got it: not left Pending, and not RolledBack
    // either (which said they had run it) — the app has no entry on them, nor they one of it.
    const entries = Object.entries(a.status.devices);
    expect(entries.map(([, d]) => d.state)).toEqual(['RolledBack']);
    expect(a.status.counts).toEqual({ targeted: 1, running: 0, failed: 0, pending: 0 });
    const devices = (await platform.api('GET', '/api/v1/devices')).body.items as Device[];
    expect(devices.filter((d) => 'faulty' in d.status.apps).map((d) => d.metadata.name)).toEqual([
      entries[0]![0],
    ]);
    // The fleet's other apps keep running.
    expect((await app('blinky')).status.phase).toBe('Running');
  });

  it('stops a runaway app for its CPU limit while the device and its other apps keep running', async () => {
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'spinner',
      module: wasm('faulty'),
      entry: 'spin',
      limits: { memoryPages: 1, cpuMsPerCall: 200 },
      target: { devices: ['field-1'] },
      strategy: { failureThreshold: 1 },
    });
    expect(res.status).toBe(202);
    const a = await settled('spinner');
    expect(a.status.devices['field-1']!.state).toBe('Failed');
    expect(a.status.devices['field-1']!.error).toMatch(/CPU limit exceeded/);
    const device = (await platform.api('GET', '/api/v1/devices/field-1')).body as Device;
    expect(device.status.phase).toBe('Connected');
    expect((device.status.apps.blinky as { state: string }).state).toBe('Running');
  });

  it('refuses a module too large for the targeted boards, naming the board', async () => {
    // hello plus a 200 KiB custom section: valid WebAssembly, but more than an STM32F746G-DISCO's 28 KiB app budget.
    const hello = fs.readFileSync(path.join(DIST_DIR, 'hello.wasm'));
    const big = withCustomSection(hello, 200 * 1024);
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'too-big',
      wasm: big.toString('base64'),
      target: { devices: ['lab-1'] },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.field).toBe('wasm');
    expect(res.body.error.message).toMatch(/module does not fit lab-1 \(Stm32F746gDisco\)/);
    expect((await platform.api('GET', '/api/v1/applications/too-big')).status).toBe(404);
  });

  it('refuses env too large for the deploy message a targeted board takes, naming env', async () => {
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'big-env',
      wasm: fs.readFileSync(path.join(DIST_DIR, 'hello.wasm')).toString('base64'),
      target: { devices: ['lab-1'] },
      env: { NOTES: 'n'.repeat(40 * 1024) },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.field).toBe('env');
    expect(res.body.error.message).toMatch(/^env and args do not fit lab-1 \(Stm32F746gDisco\)/);
    expect((await platform.api('GET', '/api/v1/applications/big-env')).status).toBe(404);
  });

  it('gives a device created after the rollout the apps whose target covers it', async () => {
    expect(
      (await platform.api('POST', '/api/v1/devices', { name: 'late-1', labels: { group: 'lab' } })).status,
    ).toBe(202);
    await waitFor('late-1 runs blinky', async () => {
      const d = (await platform.api('GET', '/api/v1/devices/late-1')).body as Device;
      return (d.status?.apps?.blinky as { state?: string } | undefined)?.state === 'Running';
    });
    // The device reports Running before the lifecycle workflow, on its ack, records it on the
    // Application: wait for that too.
    const a = await waitFor('blinky records late-1', async () => {
      const x = await app('blinky');
      return x.status.devices['late-1']?.state === 'Running' ? x : undefined;
    });
    expect(a.status.counts.targeted).toBe(4);
  });

  it('stops an app on its devices and keeps the Application, Stopped', async () => {
    const res = await platform.api('POST', '/api/v1/applications/hello/stop');
    expect(res.status).toBe(202);
    const a = await waitFor('hello Stopped', async () => {
      const h = await app('hello');
      return h.status.phase === 'Stopped' ? h : undefined;
    });
    expect(a.status.devices['lab-1']?.state).toBe('Stopped');
  });

  it('a delete right after a stop ends the stop: no run left failing on an Application that is gone', async () => {
    const fleet = ['lab-1', 'lab-2', 'field-1'];
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'brief',
      module: wasm('blinky'),
      target: { devices: fleet },
    });
    expect(res.status).toBe(202);
    expect((await settled('brief')).status.phase).toBe('Running');
    // As `wasmbed app stop brief && wasmbed app delete brief` sends them.
    expect((await platform.api('POST', '/api/v1/applications/brief/stop')).status).toBe(202);
    expect((await platform.api('DELETE', '/api/v1/applications/brief')).status).toBe(202);
    await waitFor(
      'brief gone',
      async () => (await platform.api('GET', '/api/v1/applications/brief')).status === 404,
    );
    // The stop is over at once, cancelled or done: before, it retried writing Stopped on the
    // deleted Application for a minute and then failed.
    const stop = platform.client.workflow.getHandle(stopWorkflowId('brief'));
    const closed = await waitFor(
      'the stop run closed',
      async () => {
        const { status } = await stop.describe();
        return status.name === 'RUNNING' ? undefined : status.name;
      },
      20_000,
    );
    expect(['CANCELLED', 'COMPLETED']).toContain(closed);
    for (const name of fleet) {
      const d = (await platform.api('GET', `/api/v1/devices/${name}`)).body as Device;
      expect(d.status.apps.brief, name).toBeUndefined();
    }
  });

  it('updates to a new version, and a failing one rolls back to the version that ran before', async () => {
    const v2 = await platform.api('PUT', '/api/v1/applications/blinky', {
      name: 'blinky',
      wasm: wasm('faulty'),
      entry: 'trap',
      target: { all: true },
      strategy: { type: 'Rolling', maxUnavailable: 2, failureThreshold: 0 },
    });
    expect(v2.status).toBe(202);
    const a = await waitFor('blinky v2 settled', async () => {
      const x = await app('blinky');
      return ['Running', 'PartiallyRunning', 'RolledBack', 'Failed'].includes(x.status.phase) &&
        x.spec.entry === 'trap'
        ? x
        : undefined;
    });
    expect(a.status.phase).toBe('RolledBack');
    expect(a.status.message).toMatch(/rolled back to the previous version/);
    expect(a.status.currentModule?.sha256).toBe(a.status.previousModule?.sha256);
    // The devices of the failed wave run blinky again; the rest never saw the new version.
    for (const device of ['field-1', 'lab-1', 'lab-2', 'late-1']) {
      await waitFor(`${device} runs blinky`, async () => {
        const d = (await platform.api('GET', `/api/v1/devices/${device}`)).body as Device;
        return (d.status.apps.blinky as { state?: string } | undefined)?.state === 'Running';
      });
    }
  });

  it('undeploys: the app stops on its devices and the Application goes', async () => {
    const res = await platform.api('DELETE', '/api/v1/applications/sensor');
    expect(res.status).toBe(202);
    await waitFor(
      'sensor gone',
      async () => (await platform.api('GET', '/api/v1/applications/sensor')).status === 404,
    );
    const device = (await platform.api('GET', '/api/v1/devices/lab-1')).body as Device;
    expect(device.status.apps.sensor).toBeUndefined();
    const count = (await logs('lab-1', 'sensor')).length;
    await new Promise((r) => setTimeout(r, 400));
    expect((await logs('lab-1', 'sensor')).length).toBe(count); // no more readings
  });

  it("removes the undeployed app's module once no Application uses it; the modules in use stay", async () => {
    const moduleFile = (app: string) =>
      path.join(
        paths.modules(platform.home),
        `${sha256Hex(fs.readFileSync(path.join(DIST_DIR, `${app}.wasm`)))}.wasm`,
      );
    // sensor's Application went in the test before; blinky's is still deployed.
    await waitFor('sensor module removed', () => !fs.existsSync(moduleFile('sensor')), 60_000);
    expect(fs.existsSync(moduleFile('blinky'))).toBe(true);
    // Deploying it again stores it again, and it runs.
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'sensor-again',
      module: wasm('sensor'),
      target: { devices: ['lab-2'] },
    });
    expect(res.status).toBe(202);
    expect((await settled('sensor-again')).status.phase).toBe('Running');
    expect(fs.existsSync(moduleFile('sensor'))).toBe(true);
    expect((await platform.api('DELETE', '/api/v1/applications/sensor-again')).status).toBe(202);
  });

  it('gives a device that was not Connected yet when a rollout ran the app once it connects', async () => {
    // join-1 waits for a gateway that is not running yet: it is still provisioning (placement
    // retrying) while the rollout runs.
    await createdWaitingForGateway('join-1', 'gw-join');
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'joiner',
      module: wasm('hello'),
      target: { devices: ['field-1', 'join-1'] },
    });
    expect(res.status).toBe(202);
    const during = await settled('joiner');
    // Not a failure: join-1 is Pending, and the app is partly running until it has it.
    expect(during.status.phase).toBe('PartiallyRunning');
    expect(during.status.devices['join-1']?.state).toBe('Pending');
    expect(['Running', 'Exited']).toContain(during.status.devices['field-1']?.state);

    await platform.startGateway('gw-join');
    const after = await waitFor(
      'joiner on join-1',
      async () => {
        const a = await app('joiner');
        const state = a.status.devices['join-1']?.state;
        return state === 'Running' || state === 'Exited' ? a : undefined;
      },
      120_000,
    );
    expect(after.status.counts).toMatchObject({ targeted: 2, failed: 0, pending: 0 });
    expect(after.status.phase).toBe('Running');
    await waitFor('hello output on join-1', async () => (await logs('join-1', 'joiner')).length > 0);
  });

  it('takes a deleted device out of the apps that had it: their counts and phase', async () => {
    // A device the app is left Pending on (its gateway never comes), as join-1 was above.
    await createdWaitingForGateway('leaver-1', 'gw-absent');
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'leaving',
      module: wasm('hello'),
      target: { devices: ['lab-1', 'leaver-1'] },
    });
    expect(res.status).toBe(202);
    const before = await settled('leaving');
    expect(before.status.phase).toBe('PartiallyRunning');
    expect(before.status.counts).toMatchObject({ targeted: 2, pending: 1 });

    expect((await platform.api('DELETE', '/api/v1/devices/leaver-1')).status).toBe(202);
    const after = await waitFor('leaving without leaver-1', async () => {
      const a = await app('leaving');
      return 'leaver-1' in a.status.devices ? undefined : a;
    });
    expect(Object.keys(after.status.devices)).toEqual(['lab-1']);
    expect(after.status.counts).toMatchObject({ targeted: 1, failed: 0, pending: 0 });
    expect(after.status.phase).toBe('Running');
  });

  it("keeps a device's UART log bounded: a chatty app's lines roll over into uart.log.1, in order", async () => {
    // 60 lines of ~110 bytes: more than the bound, so the log rolls over at least once.
    const args = Array.from({ length: 60 }, (_, i) => `${String(i).padStart(2, '0')}-${'x'.repeat(56)}`);
    const res = await platform.api('POST', '/api/v1/applications', {
      name: 'chatter',
      wasm: wasm('hello'),
      target: { devices: ['lab-2'] },
      args,
    });
    expect(res.status).toBe(202);
    await waitFor('the last line in the device log', async () =>
      (await logs('lab-2', 'chatter')).includes(`arg 59: ${args[59]}`),
    );
    const uart = path.join(paths.volume(platform.home, 'lab-2'), 'uart.log');
    const current = fs.readFileSync(uart, 'utf8');
    const previous = fs.readFileSync(`${uart}.1`, 'utf8');
    expect(Buffer.byteLength(current)).toBeLessThanOrEqual(UART_LOG_MAX_BYTES);
    expect(Buffer.byteLength(previous)).toBeLessThanOrEqual(UART_LOG_MAX_BYTES);
    // What the two files keep is the newest lines, whole and in order, with none missing where
    // one file ends and the next begins.
    const kept = (previous + current)
      .split('\n')
      .map((line) => /\[app chatter\] arg (\d+): /.exec(line)?.[1])
      .filter((n) => n !== undefined)
      .map(Number);
    expect(kept.at(-1)).toBe(59);
    expect(kept.length).toBeGreaterThan(UART_LOG_MAX_BYTES / 120);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 60 - kept.length + i));
    for (const line of (previous + current).split('\n').filter(Boolean))
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z /);
  });
});
