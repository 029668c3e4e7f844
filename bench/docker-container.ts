/**
 * What a device container costs to create and start, per storage driver: for each driver a
 * private engine (scripts/start-dockerd.sh with DOCKERD_STORAGE_DRIVER), the virtual-device
 * image loaded (scripts/build-device-image.sh), then N rounds of create / start / remove of a
 * container like the docker runtime's (volume, host network, limits), and N device starts
 * through DockerRuntime.start itself (which includes its 0.8 s boot check).
 * `npx tsx bench/docker-container.ts [--rounds=5] [--drivers=vfs,overlay2]` (root, dockerd).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { REPO_ROOT } from '../common/repo-root.js';
import { ensureDeviceBundle } from '../runtimes/device-bundle.js';
import { volumeName } from '../runtimes/docker/options.js';
import { DockerRuntime } from '../runtimes/docker/runtime.js';
import { DEFAULT_VIRTUAL_FIRMWARE } from '../runtimes/virtual.js';

const run = promisify(execFile);
const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const rounds = Number(arg('rounds', '5'));
const drivers = arg('drivers', 'vfs,overlay2').split(',');
const script = (name: string) => path.join(REPO_ROOT, 'scripts', name);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const fmt = (values: number[]) =>
  `median ${median(values)} ms (min ${Math.min(...values)}, max ${Math.max(...values)})`;

const bundle = await ensureDeviceBundle();
for (const driver of drivers) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wbbench-'));
  try {
    const started = await run('bash', [script('start-dockerd.sh'), root], {
      env: { ...process.env, DOCKERD_STORAGE_DRIVER: driver },
    });
    const dockerHost = /DOCKER_HOST=(\S+)/.exec(started.stdout)![1]!;
    const docker = new Docker({ socketPath: dockerHost.replace(/^unix:\/\//, '') });
    const actual = (await docker.info()).Driver as string;
    const built = await run('bash', [script('build-device-image.sh'), '--bundle', path.dirname(bundle)], {
      env: { ...process.env, DOCKER_HOST: dockerHost },
      timeout: 15 * 60_000,
    });
    const image = built.stdout.trim().split('\n').at(-1)!;
    const size = (await docker.getImage(image).inspect()).Size;

    const create: number[] = [];
    const start: number[] = [];
    const remove: number[] = [];
    await docker.createVolume({ Name: 'bench-volume' });
    for (let i = 0; i < rounds; i++) {
      let t = Date.now();
      const container = await docker.createContainer({
        name: `bench-${i}`,
        Image: image,
        Cmd: ['--device=bench', '--volume=/volume', '--mcu-type=Stm32F746gDisco'],
        HostConfig: {
          Mounts: [{ Type: 'volume', Source: 'bench-volume', Target: '/volume' }],
          NetworkMode: 'host',
          Memory: 256 * 1024 * 1024,
        },
      });
      create.push(Date.now() - t);
      t = Date.now();
      await container.start();
      start.push(Date.now() - t);
      t = Date.now();
      await container.remove({ force: true });
      remove.push(Date.now() - t);
    }
    await docker.getVolume('bench-volume').remove();

    // The runtime's own start (create + start + 0.8 s boot check), on fresh devices.
    const runtime = new DockerRuntime({ home: root, docker, image });
    const deviceStart: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const device = `bench-dev-${i}`;
      await runtime.copyFirmware(device, DEFAULT_VIRTUAL_FIRMWARE);
      const t = Date.now();
      await runtime.start(device, 'Stm32F746gDisco');
      deviceStart.push(Date.now() - t);
      await runtime.stop(device);
      await runtime.removeVolume(device);
      if ((await docker.listVolumes()).Volumes?.some((v) => v.Name === volumeName(device)))
        throw new Error(`volume of ${device} left behind`);
    }
    runtime.close();

    console.log(
      `${driver} (engine reports ${actual}), image ${image} ${(size / 1e6).toFixed(0)} MB, ${rounds} rounds:\n` +
        `  create          ${fmt(create)}\n` +
        `  start           ${fmt(start)}\n` +
        `  remove          ${fmt(remove)}\n` +
        `  runtime.start   ${fmt(deviceStart)}  (includes the 800 ms boot check)`,
    );
  } finally {
    await run('bash', [script('start-dockerd.sh'), root, '--stop']).catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  }
}
