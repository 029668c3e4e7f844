/**
 * The docker runtime on a real Docker engine that this file starts (test/support/docker-engine.ts:
 * scripts/start-dockerd.sh, Debian's dockerd with overlay2 (or vfs) storage and host networking; sudo bash
 * scripts/setup-docker.sh installs it) with a real platform: Temporal, orchestrator, gateway and web processes.
 * The virtual-device image is built offline by scripts/build-device-image.sh (debootstrap +
 * docker import; the first build on a machine takes about two minutes, later runs load the
 * saved image from .tools/device-image/ in seconds).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Device } from '../common/resources.js';
import { hostTaskQueue } from '../common/task-queues.js';
import { DEVICE_LABEL, HELPER_LABEL, containerName, volumeName } from '../runtimes/docker/options.js';
import { DockerRuntime } from '../runtimes/docker/runtime.js';
import { DEFAULT_VIRTUAL_FIRMWARE } from '../runtimes/virtual.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { provisionWorkflowId } from '../workflows/contracts/index.js';
import { startTestEngine, type TestEngine } from './support/docker-engine.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let engine: TestEngine | undefined;
let docker: Docker;
let platform: TestPlatform | undefined;
/** The runtime as the platform's worker builds it (same home, so the same platform label). */
let runtime: DockerRuntime;

beforeAll(async () => {
  try {
    await buildApps({ only: ['blinky'], log: () => {} });
    engine = await startTestEngine('docker-runtime');
    docker = engine.docker;
    platform = await startTestPlatform({ env: { DOCKER_HOST: engine.dockerHost } });
    runtime = new DockerRuntime({ home: platform.home, docker, deviceBundle: engine.bundle });
  } catch (err) {
    await teardown();
    throw err;
  }
}, 20 * 60_000);

async function teardown(): Promise<void> {
  try {
    await platform?.stop();
  } finally {
    await engine?.stop();
  }
}
afterAll(teardown, 120_000);

const device = async (name: string) => (await platform!.api('GET', `/api/v1/devices/${name}`)).body as Device;

async function waitConnected(name: string, timeoutMs = 150_000): Promise<Device> {
  return waitFor(
    `${name} Connected`,
    async () => {
      const d = await device(name);
      if (d.status?.phase === 'Failed') throw new Error(`${name} failed: ${d.status.message}`);
      return d.status?.phase === 'Connected' ? d : undefined;
    },
    timeoutMs,
    250,
  );
}

const deviceContainers = (name: string) =>
  docker.listContainers({ all: true, filters: { label: [`${DEVICE_LABEL}=${name}`] } });
const volumesOf = async (name: string) =>
  ((await docker.listVolumes()).Volumes ?? []).filter((v) => v.Name === volumeName(name));

const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');

describe('docker runtime on a real engine', () => {
  it('provisions a {"runtime":"docker"} device to Connected: volume, verified firmware, labelled running container, mTLS session, UART in the device log', async () => {
    const created = await platform!.api('POST', '/api/v1/devices', { name: 'dock-1', runtime: 'docker' });
    expect(created.status).toBe(202);
    const d = await waitConnected('dock-1').catch(async (err) => {
      process.stderr.write(
        JSON.stringify((await device('dock-1')).status, null, 1) +
          '\n' +
          platform!.logs.get('orchestrator')!.slice(-30).join('\n'),
      );
      throw err;
    });
    expect(d.spec.runtime).toBe('docker');
    // Its start (the image may be built on first use) was an activity of its own on the device's
    // host, heartbeating, not a local activity holding the run's workflow task open (TMPRL1104).
    const history = await platform!.client.workflow.getHandle(provisionWorkflowId('dock-1')).fetchHistory();
    const starts = history.events!.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'startEmulator',
    );
    expect(starts.map((e) => e.activityTaskScheduledEventAttributes?.taskQueue?.name)).toEqual([
      hostTaskQueue(d.status.host!),
    ]);

    expect(await volumesOf('dock-1')).toHaveLength(1);
    const firmware = await runtime.volumeFile('dock-1', 'firmware.img');
    expect(firmware && sha256(firmware)).toBe(sha256(fs.readFileSync(DEFAULT_VIRTUAL_FIRMWARE)));
    expect(d.status.steps?.find((s) => s.name === 'copyFirmware')?.state).toBe('Succeeded');

    const containers = await deviceContainers('dock-1');
    expect(containers).toHaveLength(1);
    const info = await docker.getContainer(containers[0]!.Id).inspect();
    expect(info.State.Running).toBe(true);
    expect(info.Name).toBe(`/${containerName('dock-1')}`);
    expect(info.Config.Labels[DEVICE_LABEL]).toBe('dock-1');
    expect(info.HostConfig.RestartPolicy?.Name).toBe('unless-stopped');
    expect(info.HostConfig.Memory).toBeGreaterThan(0);
    expect(info.HostConfig.NanoCpus).toBeGreaterThan(0);
    expect(info.HostConfig.NetworkMode).toBe('host');
    // No host bind mount: the volume is a named engine volume.
    expect(info.Mounts).toEqual([
      expect.objectContaining({ Type: 'volume', Name: volumeName('dock-1'), Destination: '/volume' }),
    ]);
    // memory.bin went in before cpu.run, readable only by the device's user.
    const memory = await runtime.volumeFile('dock-1', 'memory.bin');
    expect(memory?.length).toBe(0x8000);
    expect(await runtime.volumeFile('dock-1', 'cpu.run')).toBeDefined();
    // No firmware-copy helper left behind.
    expect(
      await docker.listContainers({ all: true, filters: { label: [`${HELPER_LABEL}=dock-1`] } }),
    ).toHaveLength(0);

    const health = (await (await fetch(`${platform!.gatewayHealthUrl}/healthz`)).json()) as {
      devices: string[];
    };
    expect(health.devices).toContain('dock-1');

    const logs = await waitFor(
      'UART lines in the device log',
      async () => {
        const items = (
          (await platform!.api('GET', '/api/v1/devices/dock-1/logs')).body as { items: { message: string }[] }
        ).items;
        return items.some((e) => e.message.includes('[uart]') && e.message.includes('boot'))
          ? items
          : undefined;
      },
      30_000,
    );
    expect(logs.map((e) => e.message).join('\n')).toMatch(/\[uart\] .*cpu released/);

    // An app runs in the container: the image's bundle prepares modules (Binaryen, bundled with
    // it) and runs them on its app threads, sleeps included.
    const deployed = await platform!.api('POST', '/api/v1/applications', {
      name: 'dock-blinky',
      wasm: fs.readFileSync(path.join(DIST_DIR, 'blinky.wasm')).toString('base64'),
      target: { devices: ['dock-1'] },
      env: { PERIOD_MS: '40', TOGGLES: '6' },
    });
    expect(deployed.status).toBe(202);
    await waitFor(
      'blinky to toggle 6 times in the container and exit',
      async () => {
        const app = (await device('dock-1')).status.apps['dock-blinky'] as { state?: string } | undefined;
        const lines = (
          (await platform!.api('GET', '/api/v1/devices/dock-1/logs?app=dock-blinky')).body as {
            items: { message: string }[];
          }
        ).items;
        return app?.state === 'Exited' && lines.some((e) => e.message === 'blinky: done');
      },
      60_000,
    );
  }, 240_000);

  it('resumes after the orchestrator is killed with SIGKILL mid-provisioning: one container, one volume', async () => {
    // Hold the gateway back so the workflow is certainly mid-way when the worker dies.
    const gateway = platform!.processes.get('gateway')!;
    gateway.kill('SIGKILL');
    await new Promise((resolve) => gateway.once('exit', resolve));

    expect(
      (await platform!.api('POST', '/api/v1/devices', { name: 'dock-2', runtime: 'docker' })).status,
    ).toBe(202);
    await waitFor(
      'dock-2 startEmulator to succeed',
      async () =>
        (await device('dock-2')).status?.steps?.find((s) => s.name === 'startEmulator')?.state ===
        'Succeeded',
      120_000,
    );
    expect(await deviceContainers('dock-2')).toHaveLength(1);

    const worker = platform!.processes.get('orchestrator')!;
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));
    await platform!.start('orchestrator');
    await platform!.start('gateway');

    await waitConnected('dock-2');
    await platform!.client.workflow.getHandle('provision-dock-2').result();
    expect(await deviceContainers('dock-2')).toHaveLength(1);
    expect(await volumesOf('dock-2')).toHaveLength(1);
    // dock-1 survived the restarts untouched.
    expect(await deviceContainers('dock-1')).toHaveLength(1);
  }, 300_000);

  it('adopts an existing container instead of creating a second one', async () => {
    const before = await deviceContainers('dock-2');
    const again = await runtime.start('dock-2', 'Stm32F746gDisco');
    expect(again).toEqual({ id: before[0]!.Id, adopted: true });
    expect(await deviceContainers('dock-2')).toHaveLength(1);
  });

  it('deprovisioning removes the container and the volume', async () => {
    for (const name of ['dock-1', 'dock-2']) {
      expect((await platform!.api('DELETE', `/api/v1/devices/${name}`)).status).toBe(202);
    }
    for (const name of ['dock-1', 'dock-2']) {
      await waitFor(
        `${name} deleted`,
        async () => (await platform!.api('GET', `/api/v1/devices/${name}`)).status === 404,
        60_000,
      );
      expect(await deviceContainers(name)).toHaveLength(0);
      expect(await volumesOf(name)).toHaveLength(0);
    }
    expect(await docker.listContainers({ all: true })).toHaveLength(0);
  });
});
