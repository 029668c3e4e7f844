/**
 * A private Docker engine for one test file (scripts/start-dockerd.sh under a fresh root:
 * Debian's dockerd, overlay2 (or vfs) storage, host networking), the offline virtual-device image on it
 * (scripts/build-device-image.sh: saved images under .tools/device-image/ load in seconds),
 * and a teardown that removes every container and volume and stops the engine.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { REPO_ROOT } from '../../common/repo-root.js';
import { ensureDeviceBundle } from '../../runtimes/device-bundle.js';

const run = promisify(execFile);
const SCRIPTS = path.join(REPO_ROOT, 'scripts');

export interface TestEngine {
  docker: Docker;
  /** unix://<root>/docker.sock */
  dockerHost: string;
  /** The device bundle the image was built from. */
  bundle: string;
  /** wasmbed/virtual-device:<bundle hash>, present on the engine. */
  deviceImage: string;
  /** Removes every container and volume, stops the engine, deletes its root. */
  stop(): Promise<void>;
}

export async function startTestEngine(label: string): Promise<TestEngine> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wbdkr-'));
  let docker: Docker | undefined;
  const stop = async () => {
    if (docker) {
      const containers = await docker.listContainers({ all: true }).catch(() => []);
      for (const c of containers)
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
      const { Volumes } = await docker
        .listVolumes()
        .catch(() => ({ Volumes: [] as Docker.VolumeInspectInfo[] }));
      for (const v of Volumes ?? [])
        await docker
          .getVolume(v.Name)
          .remove()
          .catch(() => undefined);
    }
    await run('bash', [path.join(SCRIPTS, 'start-dockerd.sh'), root, '--stop']).catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    const started = await run('bash', [path.join(SCRIPTS, 'start-dockerd.sh'), root]);
    const dockerHost = /DOCKER_HOST=(\S+)/.exec(started.stdout)![1]!;
    docker = new Docker({ socketPath: dockerHost.replace(/^unix:\/\//, '') });
    const bundle = await ensureDeviceBundle();
    const t0 = Date.now();
    const built = await run(
      'bash',
      [path.join(SCRIPTS, 'build-device-image.sh'), '--bundle', path.dirname(bundle)],
      { env: { ...process.env, DOCKER_HOST: dockerHost }, timeout: 15 * 60_000 },
    );
    const deviceImage = built.stdout.trim().split('\n').at(-1)!;
    process.stderr.write(`[${label}] device image ${deviceImage} ready in ${Date.now() - t0} ms\n`);
    return { docker, dockerHost, bundle, deviceImage, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
