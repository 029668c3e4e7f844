/**
 * Never two copies of a docker device across device hosts (issue 16). A container outlives the
 * host that started it, so the fence is built from three parts, each shown here on real Docker
 * engines this file starts (test/support/docker-engine.ts) with a real platform:
 *
 * - hosts on their own engines (one machine each, as in production): a docker device whose host
 *   is killed with SIGKILL (its container keeps running and Connected) is moved to the live host
 *   once the grace period is over; there it gets a new key and certificate, the old certificate
 *   is revoked, the gateway closes the session the left-behind container holds and refuses its
 *   old identity; the killed host, started again, removes its container instead of adopting it —
 *   one container of the device runs, on the new host's engine;
 * - hosts sharing one engine: the host a device moved to removes the container the old host left
 *   and makes the device a new key, never adopting the old host's container.
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import type { Device } from '../common/resources.js';
import { encodeMessageFrame } from '../protocol/framing.js';
import { openPlatform, type PlatformContext } from '../platform/context.js';
import { DEVICE_LABEL, HOST_LABEL, platformIdFor } from '../runtimes/docker/options.js';
import { DockerRuntime } from '../runtimes/docker/runtime.js';
import { startTestEngine, type TestEngine } from './support/docker-engine.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

const HOSTS = ['host-a', 'host-b'] as const;
type HostId = (typeof HOSTS)[number];
const engines = new Map<HostId, TestEngine>();
let platform: TestPlatform | undefined;
/** The platform's certificate ledger and store, read the way its processes read them. */
let ledger: PlatformContext | undefined;

const hostDataDir = (id: string) => path.join(platform!.home, 'hosts', id);
const startHost = (id: HostId) =>
  platform!.start('host', {
    name: id,
    env: {
      WASMBED_HOST_ID: id,
      WASMBED_HOST_DATA_DIR: hostDataDir(id),
      DOCKER_HOST: engines.get(id)!.dockerHost,
    },
  });
const device = async (name: string) => (await platform!.api('GET', `/api/v1/devices/${name}`)).body as Device;

/** The device's containers on one engine (running or not). */
const containersOf = (docker: Docker, name: string) =>
  docker.listContainers({ all: true, filters: { label: [`${DEVICE_LABEL}=${name}`] } });

beforeAll(async () => {
  try {
    for (const id of HOSTS) engines.set(id, await startTestEngine(`docker-fencing-${id}`));
    platform = await startTestPlatform({
      env: {
        DOCKER_HOST: engines.get('host-a')!.dockerHost,
        WASMBED_START_HOST: 'false',
        WASMBED_HOST_GRACE_MS: '8000',
        WASMBED_LIFECYCLE_GRACE_MS: '2000',
        WASMBED_LIFECYCLE_CHECK_MS: '3000',
      },
    });
    for (const id of HOSTS) await startHost(id);
    ledger = await openPlatform(loadConfig(platform.env));
  } catch (err) {
    await teardown();
    throw err;
  }
}, 30 * 60_000);

async function teardown(): Promise<void> {
  try {
    await ledger?.close();
    await platform?.stop();
  } finally {
    for (const engine of engines.values()) await engine.stop();
  }
}
afterAll(teardown, 180_000);

/** Dials the gateway with a device certificate and key, says Hello; resolves once the gateway closes the connection. */
function dialWith(endpoint: string, certPem: string, keyPem: string, caPem: string): Promise<'closed'> {
  const [host, port] = endpoint.split(':');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port: Number(port),
      cert: certPem,
      key: keyPem,
      ca: [caPem],
      servername: host,
    });
    socket.on('error', () => undefined); // the gateway's close may surface as a reset
    socket.once('secureConnect', () =>
      socket.write(
        encodeMessageFrame({
          version: 1,
          messageId: 1,
          body: {
            type: 'DeviceInfo',
            firmwareVersion: 'left-behind',
            mcuType: 'Stm32F746gDisco',
            freeMemory: 1,
            maxAppSize: 1,
            wasmFeatures: [],
          },
        }),
      ),
    );
    socket.resume();
    socket.once('close', () => resolve('closed'));
    setTimeout(() => reject(new Error('the gateway kept a session with a revoked certificate open')), 60_000);
  });
}

describe('docker devices across device hosts', () => {
  it('kill -9 of its host: the device comes back on the other host, the old identity holds no session, and the old container is removed, not adopted', async () => {
    const name = 'fenced-1';
    expect((await platform!.api('POST', '/api/v1/devices', { name, runtime: 'docker' })).status).toBe(202);
    const before = await waitFor(
      `${name} Connected`,
      async () => {
        const d = await device(name);
        if (d.status?.phase === 'Failed') throw new Error(`${name} failed: ${d.status.message}`);
        return d.status?.phase === 'Connected' ? d : undefined;
      },
      300_000,
      250,
    );
    const victim = before.status.host as HostId;
    expect(HOSTS).toContain(victim);
    const survivor = HOSTS.find((id) => id !== victim)!;
    const victimEngine = engines.get(victim)!;
    const survivorEngine = engines.get(survivor)!;
    const [running] = await containersOf(victimEngine.docker, name);
    expect(running?.Labels[HOST_LABEL]).toBe(victim);

    // The identity a left-behind copy would present: the certificate and the key in its volume.
    const oldSerial = before.status.identity!.certSerial;
    const oldCert = (await ledger!.certificates.findActive(name))!;
    expect(oldCert.serial).toBe(oldSerial);
    const oldKey = (await new DockerRuntime({ home: platform!.home, docker: victimEngine.docker }).volumeFile(
      name,
      'device.key',
    ))!.toString('utf8');

    const host = platform!.processes.get(victim)!;
    host.kill('SIGKILL');
    await new Promise((resolve) => host.once('exit', resolve));
    // The container outlives its host: the device is still up, with its old identity.
    expect((await victimEngine.docker.getContainer(running!.Id).inspect()).State.Running).toBe(true);

    const after = await waitFor(
      `${name} Connected on ${survivor} with a new certificate`,
      async () => {
        const d = await device(name);
        return d.status?.phase === 'Connected' &&
          d.status.host === survivor &&
          d.status.identity?.certSerial !== oldSerial
          ? d
          : undefined;
      },
      600_000,
      500,
    );
    expect(after.status.identity?.spkiSha256).not.toBe(before.status.identity?.spkiSha256);
    expect(await ledger!.certificates.isRevoked(oldSerial)).toBe(true);
    const [moved] = await containersOf(survivorEngine.docker, name);
    expect(moved?.State).toBe('running');
    expect(moved?.Labels[HOST_LABEL]).toBe(survivor);

    // The gateway holds one session for the device, with the new certificate: the left-behind
    // container's session was closed (replaced, or by the recheck of its revoked certificate)...
    const gateway = loadConfig(platform!.env).gateway.name;
    const sessions = await waitFor('one session for the device, with the new certificate', async () => {
      const health = (await (await fetch(`${platform!.gatewayHealthUrl}/healthz`)).json()) as {
        devices: string[];
      };
      const d = await device(name);
      return health.devices.filter((n) => n === name).length === 1 &&
        d.status.identity?.certSerial === after.status.identity?.certSerial &&
        d.status.gateway?.name === gateway
        ? health.devices
        : undefined;
    });
    expect(sessions.filter((n) => n === name)).toHaveLength(1);
    // ...and its old identity is refused when it dials again.
    const gatewayResource = (await ledger!.store.get('Gateway', gateway))!;
    expect(await dialWith(gatewayResource.spec.endpoint, oldCert.certPem, oldKey, ledger!.ca.certPem)).toBe(
      'closed',
    );
    expect((await device(name)).status.identity?.certSerial).toBe(after.status.identity?.certSerial);

    // The killed host comes back: it finds its container of a device placed elsewhere and
    // removes it (it fences before it reports ready; the wait is on the engine itself).
    await startHost(victim);
    await waitFor('the left-behind container removed', async () =>
      (await containersOf(victimEngine.docker, name)).length === 0 ? true : undefined,
    );
    // Exactly one container of the device runs across both engines: the new host's.
    const everywhere = [
      ...(await containersOf(victimEngine.docker, name)),
      ...(await containersOf(survivorEngine.docker, name)),
    ];
    expect(everywhere.map((c) => [c.Id, c.State, c.Labels[HOST_LABEL]])).toEqual([
      [moved!.Id, 'running', survivor],
    ]);
    const still = await device(name);
    expect(still.status.phase).toBe('Connected');
    expect(still.status.host).toBe(survivor);
    // The same certificate (its serial spelled as the ledger does, also with a leading zero).
    expect(still.status.identity?.certSerial).toBe(after.status.identity?.certSerial);
  }, 1_200_000);

  it('on an engine two hosts share, the host a device moved to removes the old host container and makes a new key', async () => {
    const { docker, bundle } = engines.get('host-a')!;
    const platformId = platformIdFor(platform!.home);
    // The runtimes as two hosts' host/main.ts build them: one platform label, their own host ids.
    const onHost = (hostId: string) =>
      new DockerRuntime({
        home: hostDataDir(hostId),
        docker,
        deviceBundle: bundle,
        platformId,
        hostId,
      });
    const [x, y] = [onHost('host-x'), onHost('host-y')];
    const name = 'shared-1';
    await x.copyFirmware(name);
    const keyX = await x.deviceKey(name);
    const first = await x.start(name, 'Stm32F746gDisco');
    expect(first.adopted).toBe(false);
    expect((await x.ownContainers()).map((c) => c.device)).toContain(name);

    // host-y now owns the device (the runtime activities ran their ownership check before this).
    const keyY = await y.deviceKey(name);
    expect(keyY.publicKeyPem).not.toBe(keyX.publicKeyPem);
    expect((await y.deviceKey(name)).publicKeyPem).toBe(keyY.publicKeyPem); // stable for its new host
    const second = await y.start(name, 'Stm32F746gDisco');
    expect(second.adopted).toBe(false);
    expect(second.id).not.toBe(first.id);
    const containers = await containersOf(docker, name);
    expect(containers.map((c) => [c.Id, c.State, c.Labels[HOST_LABEL]])).toEqual([
      [second.id, 'running', 'host-y'],
    ]);
    expect((await x.ownContainers()).map((c) => c.device)).not.toContain(name);
    expect((await y.ownContainers()).map((c) => c.device)).toContain(name);
    // Started again, it adopts its own container.
    expect(await y.start(name, 'Stm32F746gDisco')).toEqual({ id: second.id, adopted: true });

    await y.stop(name);
    await y.removeVolume(name);
    for (const dir of ['host-x', 'host-y']) fs.rmSync(hostDataDir(dir), { recursive: true, force: true });
  }, 300_000);
});
