/**
 * The renode runtime in image mode on a real Docker engine (test/support/docker-engine.ts) with
 * the real platform. The antmicro/renode image cannot be pulled here (no registry), so the
 * image Renode runs from is a STAND-IN built in this file: the offline virtual-device image
 * (it has node) plus test/support/renode-standin.mjs as /usr/local/bin/renode, tagged as the
 * configured WASMBED_RENODE_IMAGE. Everything around Renode is real: the named volume, the
 * firmware copied through the archive API, the container (name, labels, command line, host
 * network, restart policy, limits), the monitor on the host network, the UART file streamed to
 * the device log, and the cleanup. What a real Renode does with the script is not verified.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Device } from '../common/resources.js';
import { REPO_ROOT } from '../common/repo-root.js';
import { ENDPOINT_BLOCK_ADDRESS, RAM_BASE, decodeEndpointBlock } from '../device/memory-contract.js';
import { DEVICE_LABEL, HELPER_LABEL, containerName, volumeName } from '../runtimes/docker/options.js';
import { DockerRuntime } from '../runtimes/docker/runtime.js';
import { makeTar } from '../runtimes/docker/tar.js';
import { ensureQemuTestFirmware } from '../runtimes/qemu.js';
import { MONITOR_PORT_LABEL } from '../runtimes/renode/options.js';
import { applyWriteCommands, macFor } from '../runtimes/renode/resc.js';
import { RenodeRuntime } from '../runtimes/renode/runtime.js';
import { startTestEngine, type TestEngine } from './support/docker-engine.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

const STANDIN_IMAGE = 'wasmbed-test/renode-standin:1';
const STANDIN = path.join(REPO_ROOT, 'test', 'support', 'renode-standin.mjs');
const HOST_ADDRESS = '192.0.2.20';

let engine: TestEngine | undefined;
let platform: TestPlatform | undefined;
let docker: DockerRuntime;
let renode: RenodeRuntime;
let firmware: string;

/** The stand-in image: the virtual-device image with the stand-in as `renode` on PATH. */
async function buildStandinImage(engine: TestEngine): Promise<void> {
  const context = makeTar([
    {
      name: 'Dockerfile',
      data: Buffer.from(
        [
          `FROM ${engine.deviceImage}`,
          'USER root',
          'COPY renode /usr/local/bin/renode',
          'ENTRYPOINT []',
          'CMD ["renode"]',
          'LABEL wasmbed.io/component="renode-standin-for-tests"',
          '',
        ].join('\n'),
      ),
    },
    {
      name: 'renode',
      data: fs.readFileSync(STANDIN),
      mode: 0o755,
    },
  ]);
  const stream = await engine.docker.buildImage(Readable.from(context), { t: STANDIN_IMAGE });
  await new Promise<void>((resolve, reject) =>
    engine.docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => {
      const failed = err ?? out.find((o) => o.error)?.error;
      if (failed) reject(new Error(`building ${STANDIN_IMAGE}: ${String(failed)}`));
      else resolve();
    }),
  );
}

beforeAll(async () => {
  try {
    firmware = ensureQemuTestFirmware(); // a real Cortex-M ELF
    engine = await startTestEngine('renode-docker');
    await buildStandinImage(engine);
    platform = await startTestPlatform({
      env: {
        DOCKER_HOST: engine.dockerHost,
        WASMBED_RENODE_MODE: 'docker',
        WASMBED_RENODE_IMAGE: STANDIN_IMAGE,
        WASMBED_RENODE_HOST_ADDRESS: HOST_ADDRESS,
      },
    });
    docker = new DockerRuntime({ home: platform.home, docker: engine.docker });
    renode = new RenodeRuntime({ home: platform.home, mode: 'docker', image: STANDIN_IMAGE, docker });
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

const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');
const device = async (name: string) => (await platform!.api('GET', `/api/v1/devices/${name}`)).body as Device;
const containersOf = (name: string) =>
  engine!.docker.listContainers({ all: true, filters: { label: [`${DEVICE_LABEL}=${name}`] } });
const volumesOf = async (name: string) =>
  ((await engine!.docker.listVolumes()).Volumes ?? []).filter((v) => v.Name === volumeName(name));
const text = async (name: string, file: string) =>
  (await docker.volumeFile(name, file))?.toString('utf8') ?? '';

describe('renode runtime in image mode on a real engine (stand-in renode image)', () => {
  it('provisions a {"runtime":"renode"} device in a labelled container on a named volume: ELF, .resc with blocks before start, monitor, UART in the device log', async () => {
    expect(
      (
        await platform!.api('POST', '/api/v1/devices', {
          name: 'rd-1',
          runtime: 'renode',
          mcuType: 'Stm32F746gDisco',
          firmware,
        })
      ).status,
    ).toBe(202);
    await waitFor(
      'rd-1 writeEndpoint to succeed',
      async () => {
        const d = await device('rd-1');
        if (d.status?.phase === 'Failed') throw new Error(`rd-1 failed: ${d.status.message}`);
        return d.status?.steps?.find((s) => s.name === 'writeEndpoint')?.state === 'Succeeded';
      },
      180_000,
      250,
    ).catch(async (err) => {
      process.stderr.write(platform!.logs.get('orchestrator')!.slice(-30).join('\n'));
      throw err;
    });

    // The container: one, named and labelled, on the named volume, host network, limits.
    const containers = await containersOf('rd-1');
    expect(containers).toHaveLength(1);
    const info = await engine!.docker.getContainer(containers[0]!.Id).inspect();
    expect(info.State.Running).toBe(true);
    expect(info.Name).toBe(`/${containerName('rd-1')}`);
    expect(info.Config.Image).toBe(STANDIN_IMAGE);
    expect(info.Config.Labels[DEVICE_LABEL]).toBe('rd-1');
    const port = info.Config.Labels[MONITOR_PORT_LABEL]!;
    expect(Number(port)).toBeGreaterThan(0);
    expect(info.HostConfig.NetworkMode).toBe('host');
    expect(info.HostConfig.RestartPolicy?.Name).toBe('unless-stopped');
    expect(info.HostConfig.Memory).toBe(1024 * 1024 * 1024);
    expect(info.HostConfig.CapAdd).toEqual(['NET_ADMIN']);
    expect(info.Mounts).toEqual([
      expect.objectContaining({ Type: 'volume', Name: volumeName('rd-1'), Destination: '/volume' }),
    ]);
    // The command line: Renode's flags, the script in the volume.
    expect(info.Config.Entrypoint).toEqual(['/bin/sh', '-c']);
    expect(info.Config.Cmd![0]).toContain(
      `exec renode '--disable-xwt' '--hide-log' '--port' '${port}' '-e' 'include @/volume/device.resc'`,
    );
    const log = (await text('rd-1', 'renode-standin.log')).split('\n');
    expect(log[0]).toBe(
      `argv\t${JSON.stringify(['--disable-xwt', '--hide-log', '--port', port, '-e', 'include @/volume/device.resc'])}`,
    );

    // The firmware in the volume, byte for byte, and Renode loaded it.
    const expected = sha256(fs.readFileSync(firmware));
    expect(sha256((await docker.volumeFile('rd-1', 'firmware.elf'))!)).toBe(expected);
    expect(log).toContain(`ELF\tsha256=${expected}`);

    // Blocks before `start`, both in what the stand-in received and in device.resc.
    const seen = log.filter((l) => /^(startup|monitor)/.test(l)).map((l) => l.split('\t')[1]!);
    const writes = seen.flatMap((c, i) => (c.startsWith('sysbus WriteDoubleWord') ? [i] : []));
    expect(writes.length).toBeGreaterThan(10);
    expect(Math.max(...writes)).toBeLessThan(seen.indexOf('start'));
    expect(log).toContain(`STATE\tstarted\tendpoint=${HOST_ADDRESS}:${platform!.gatewayPort}`);
    const resc = (await text('rd-1', 'device.resc')).split('\n').filter((l) => l && !l.startsWith('#'));
    expect(resc.at(-1)).toBe('start');
    expect(resc).toContain('sysbus LoadELF @/volume/firmware.elf');
    expect(resc).toContain(`sysbus.ethernet MAC "${macFor('rd-1')}"`);
    expect(
      decodeEndpointBlock(applyWriteCommands(resc, RAM_BASE, 0x8000), ENDPOINT_BLOCK_ADDRESS - RAM_BASE),
    ).toBe(`${HOST_ADDRESS}:${platform!.gatewayPort}`);

    // The monitor answers on the host network; the machine runs.
    expect(await renode.machineState('rd-1')).toBe('running');

    // The UART file the script set up, streamed to the device log through the container's output.
    await waitFor(
      'UART lines in the device log',
      async () => {
        const items = (
          (await platform!.api('GET', '/api/v1/devices/rd-1/logs')).body as { items: { message: string }[] }
        ).items;
        return items.some(
          (e) => e.message === `[uart] wasmbed: endpoint=${HOST_ADDRESS}:${platform!.gatewayPort}`,
        );
      },
      30_000,
    );
    // No firmware-copy helper left behind.
    expect(
      await engine!.docker.listContainers({ all: true, filters: { label: [`${HELPER_LABEL}=rd-1`] } }),
    ).toHaveLength(0);
  }, 300_000);

  it('adopts the running container and rewrites the endpoint through the monitor', async () => {
    const [before] = await containersOf('rd-1');
    expect(await renode.start('rd-1', 'Stm32F746gDisco')).toEqual({ id: before!.Id, adopted: true });
    await renode.writeMemory('rd-1', 'gateway.example:9443', {
      certPem: '-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n',
      keyPem: '-----BEGIN PRIVATE KEY-----\nX\n-----END PRIVATE KEY-----\n',
      caPem: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
    });
    const log = (await text('rd-1', 'renode-standin.log')).split('\n');
    expect(log).toContain('monitor\tmachine Reset');
    expect(log).toContain('STATE\tstarted\tendpoint=gateway.example:9443');
    expect(await text('rd-1', 'device.resc')).toContain(
      '# endpoint block at 0x20001000: gateway.example:9443',
    );
    expect((await containersOf('rd-1')).map((c) => c.Id)).toEqual([before!.Id]);
  });

  it('keeps using the mode a device was made in when a renode binary appears later', async () => {
    // Auto mode with a local renode (the stand-in) would pick local for a new device ...
    const later = new RenodeRuntime({ home: platform!.home, binary: STANDIN, docker });
    expect(later.mode).toBe('local');
    // ... but rd-1 was made from the image: its container and volume stay in view.
    expect(later.deviceMode('rd-1')).toBe('docker');
    expect(await later.machineState('rd-1')).toBe('running');
    const [container] = await containersOf('rd-1');
    expect(await later.start('rd-1', 'Stm32F746gDisco')).toEqual({ id: container!.Id, adopted: true });
  });

  it('deprovisioning removes the container and the volume', async () => {
    expect((await platform!.api('DELETE', '/api/v1/devices/rd-1')).status).toBe(202);
    await waitFor(
      'rd-1 deleted',
      async () => (await platform!.api('GET', '/api/v1/devices/rd-1')).status === 404,
      60_000,
    );
    expect(await containersOf('rd-1')).toHaveLength(0);
    expect(await volumesOf('rd-1')).toHaveLength(0);
    expect(await engine!.docker.listContainers({ all: true })).toHaveLength(0);
  });
});
