/**
 * Self-healing with real processes and kill -9: devices come back by themselves, gateways
 * restart and fail over (the liveness watchdog noticing a dead gateway), a device that cannot
 * boot fails with its reason and Retry fixes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Application, Device } from '../common/resources.js';
import { DEFAULT_VIRTUAL_FIRMWARE } from '../runtimes/virtual.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;

beforeAll(async () => {
  await buildApps({ log: () => {} });
  platform = await startTestPlatform({
    env: {
      WASMBED_LIFECYCLE_CHECK_MS: '600000', // never within a test: signals and due times drive the lifecycle
      WASMBED_LIFECYCLE_GRACE_MS: '1500',
      WASMBED_LIFECYCLE_MAX_ATTEMPTS: '4',
    },
  });
});
afterAll(async () => {
  await platform?.stop();
});

const device = async (name: string) => (await platform.api('GET', `/api/v1/devices/${name}`)).body as Device;
const application = async (name: string) =>
  (await platform.api('GET', `/api/v1/applications/${name}`)).body as Application;
const wasm = (name: string) => fs.readFileSync(path.join(DIST_DIR, `${name}.wasm`)).toString('base64');

async function connected(name: string, timeoutMs = 60_000): Promise<Device> {
  return waitFor(
    `${name} Connected`,
    async () => {
      const d = await device(name);
      return d.status?.phase === 'Connected' ? d : undefined;
    },
    timeoutMs,
  );
}

async function create(name: string, extra: Record<string, unknown> = {}): Promise<void> {
  const res = await platform.api('POST', '/api/v1/devices', { name, ...extra });
  expect(res.status).toBe(202);
}

async function sessions(healthUrl: string): Promise<string[]> {
  return ((await (await fetch(`${healthUrl}/healthz`)).json()) as { devices: string[] }).devices;
}

async function deploy(name: string, body: Record<string, unknown>): Promise<void> {
  const res = await platform.api('POST', '/api/v1/applications', { name, module: wasm('blinky'), ...body });
  expect(res.status).toBe(202);
}

describe('recovery', () => {
  it('brings a killed device back, with its apps running, with no operator', async () => {
    await create('phoenix');
    await connected('phoenix');
    await deploy('blink-phoenix', { target: { devices: ['phoenix'] } });
    await waitFor(
      'blinky Running',
      async () => (await application('blink-phoenix')).status.phase === 'Running',
    );

    const [pid] = platform.deviceProcesses('phoenix');
    await platform.killDevice('phoenix');
    await waitFor('phoenix noticed lost', async () => (await device('phoenix')).status.phase !== 'Connected');
    const back = await connected('phoenix');
    expect(back.status.gateway?.name).toBe('gateway-0');
    const pids = platform.deviceProcesses('phoenix');
    expect(pids).toHaveLength(1);
    expect(pids[0]).not.toBe(pid);
    await waitFor('blinky running again on the new process', async () => {
      const d = await device('phoenix');
      return (d.status.apps['blink-phoenix'] as { state?: string } | undefined)?.state === 'Running';
    });
  });

  it('rotates a certificate on request, without restarting the device or its apps', async () => {
    const before = await connected('phoenix');
    const pids = platform.deviceProcesses('phoenix');
    const res = await platform.api('POST', '/api/v1/devices/phoenix/rotate-certificate');
    expect(res.status).toBe(202);
    expect(res.body.workflowId).toBe('lifecycle-phoenix');
    await waitFor('new certificate in use', async () => {
      const d = await device('phoenix');
      const held = await sessions(platform.gatewayHealthUrl);
      return (
        d.status.identity?.certSerial !== before.status.identity?.certSerial &&
        d.status.phase === 'Connected' &&
        held.includes('phoenix')
      );
    });
    expect(platform.deviceProcesses('phoenix')).toEqual(pids);
    expect(((await device('phoenix')).status.apps['blink-phoenix'] as { state: string }).state).toBe(
      'Running',
    );
    expect((await platform.api('POST', '/api/v1/devices/nobody/rotate-certificate')).status).toBe(404);
  });

  it('fails a device whose emulator can never start with the reason, and Retry brings it up once fixed', async () => {
    const firmware = path.join(platform.home, 'broken.fw.json');
    fs.writeFileSync(firmware, '{"format":"something-else"}');
    await create('brick', { firmware });
    const failed = await waitFor(
      'brick Failed',
      async () => {
        const d = await device('brick');
        return d.status.phase === 'Failed' ? d : undefined;
      },
      90_000,
    );
    expect(failed.status.message).toMatch(/startEmulator failed: .*not a wasmbed virtual firmware image/);
    expect(failed.status.steps?.find((s) => s.name === 'startEmulator')?.state).toBe('Failed');
    expect(platform.deviceProcesses('brick')).toHaveLength(0);

    fs.copyFileSync(DEFAULT_VIRTUAL_FIRMWARE, firmware);
    expect((await platform.api('POST', '/api/v1/devices/brick/retry')).status).toBe(202);
    await connected('brick');
    expect(platform.deviceProcesses('brick')).toHaveLength(1);
  }, 240_000); // the failing run exhausts its retries first: minutes on a loaded machine

  it('survives kill -9 of the gateway with 20 devices: all reconnect once, a rollout in flight completes', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `herd-${i}`);
    for (const name of names) await create(name, { labels: { herd: 'yes' } });
    for (const name of names) await connected(name, 120_000);

    await deploy('herd-blinky', {
      target: { selector: { herd: 'yes' } },
      strategy: { type: 'Rolling', maxUnavailable: 5 },
    });
    await waitFor(
      'rollout started',
      async () => (await application('herd-blinky')).status.phase === 'Deploying',
    );
    const gateway = platform.processes.get('gateway')!;
    gateway.kill('SIGKILL');
    await new Promise((resolve) => gateway.once('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await platform.start('gateway');

    await waitFor(
      '20 sessions back',
      async () => {
        const held = await sessions(platform.gatewayHealthUrl);
        return names.every((n) => held.includes(n));
      },
      120_000,
    );
    const held = (await sessions(platform.gatewayHealthUrl)).filter((d) => d.startsWith('herd-'));
    expect(held).toHaveLength(20);
    expect(new Set(held).size).toBe(20);

    const app = await waitFor(
      'rollout done',
      async () => {
        const a = await application('herd-blinky');
        return ['Running', 'PartiallyRunning', 'RolledBack', 'Failed'].includes(a.status.phase)
          ? a
          : undefined;
      },
      180_000,
    );
    expect(app.status.phase).toBe('Running');
    expect(app.status.counts.running).toBe(20);
    for (const name of names) expect(platform.deviceProcesses(name)).toHaveLength(1);
  });

  it('moves the devices of a dead gateway to the other one', async () => {
    await platform.startGateway('gateway-1');
    for (const name of ['ferry-0', 'ferry-1']) await create(name, { gateway: 'gateway-1' });
    for (const name of ['ferry-0', 'ferry-1']) {
      expect((await connected(name)).status.gateway?.name).toBe('gateway-1');
    }
    // Nobody is left to signal these devices' lifecycles: the liveness watchdog notices the
    // gateway went silent and asks them for a check (their safety-net check is 10 minutes away).
    const second = platform.processes.get('gateway-1')!;
    second.kill('SIGKILL');
    await new Promise((resolve) => second.once('exit', resolve));

    for (const name of ['ferry-0', 'ferry-1']) {
      await waitFor(
        `${name} on gateway-0`,
        async () => {
          const d = await device(name);
          return d.status.phase === 'Connected' && d.status.gateway?.name === 'gateway-0';
        },
        90_000,
      );
    }
    const held = await sessions(platform.gatewayHealthUrl);
    expect(held).toEqual(expect.arrayContaining(['ferry-0', 'ferry-1']));
  });
});
