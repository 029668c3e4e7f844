/** The docker runtime's names and labels, what a device container runs, and its settings from the environment. */
import crypto from 'node:crypto';
import path from 'node:path';
import type Docker from 'dockerode';
import { ValidationError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { REPO_ROOT } from '../../common/repo-root.js';
import type { DeviceLogs } from '../../store/device-logs.js';

export const DEVICE_LABEL = 'wasmbed.io/device';
export const HELPER_LABEL = 'wasmbed.io/firmware-copy';
export const PLATFORM_LABEL = 'wasmbed.io/platform';
/** The device host that runs a device container; hosts sharing one engine fence each other by it. */
export const HOST_LABEL = 'wasmbed.io/host';
/** The file in a device's volume naming the host that made its key (see DockerRuntime.deviceKey). */
export const VOLUME_HOST_FILE = 'host';
/** Where the device's volume is mounted inside its container. */
export const VOLUME_MOUNT = '/volume';
/** The user the virtual-device image runs as (docker/Dockerfile): it must be able to read memory.bin (0600). */
export const DEVICE_UID = 65534;
export const HELPER_IMAGE = 'wasmbed/volume-helper:1';
export const BUILD_IMAGE_SCRIPT = path.join(REPO_ROOT, 'scripts', 'build-device-image.sh');

export const volumeName = (device: string): string => `firmware-${device}`;
export const containerName = (device: string): string => `wasmbed-device-${device}`;
export const helperName = (device: string): string => `wasmbed-firmware-copy-${device}`;
/** The default platform label: the same for every host of the platform started from one WASMBED_HOME. */
export const platformIdFor = (home: string): string =>
  crypto.createHash('sha256').update(path.resolve(home)).digest('hex').slice(0, 12);

/** What a device container runs; the runtime adds name, labels, volume, network, restart policy and limits. */
export interface DeviceContainerSpec {
  image: string;
  entrypoint?: string[];
  cmd: string[];
  env?: string[];
  user?: string;
  labels?: Record<string, string>;
  /** Memory limit instead of the runtime's (an emulator needs more than the virtual device). */
  memoryBytes?: number;
  /** Extra capabilities and host devices (Renode's taps need NET_ADMIN and /dev/net/tun). */
  capAdd?: string[];
  devices?: string[];
}

export interface DockerRuntimeOptions {
  home: string;
  /** A dockerode client; by default one from the environment (DOCKER_HOST). */
  docker?: Docker;
  /** Image the devices run. Unset: the virtual-device image for `deviceBundle`, built on demand. */
  image?: string;
  /** The device bundle (dist/device-<hash>/main.mjs) the on-demand image is built from. */
  deviceBundle?: string;
  /** Where build-device-image.sh keeps its debootstrapped rootfs and saved images. */
  imageCache?: string;
  logs?: DeviceLogs;
  logger?: Logger;
  /** Per-container limits. */
  memoryBytes?: number;
  nanoCpus?: number;
  pidsLimit?: number;
  restartPolicy?: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  /** `host` (default): the device dials the gateway's host:port as the host would. */
  networkMode?: string;
  /** Distinguishes platforms that share one engine; a container of another platform is never adopted. */
  platformId?: string;
  /**
   * The device host this runtime runs in. Set: its containers carry it (HOST_LABEL), it adopts
   * only its own, and it removes one that another host left for a device now placed here.
   */
  hostId?: string;
  /** How long a freshly started container must stay up to count as booted. */
  bootCheckMs?: number;
}

/** The docker runtime's settings from the environment (all optional). */
export function dockerOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<DockerRuntimeOptions> {
  const num = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0)
      throw new ValidationError(name, `${name}="${raw}" is not a positive number`);
    return value;
  };
  const restart = env.WASMBED_DOCKER_RESTART;
  if (restart && !['no', 'always', 'unless-stopped', 'on-failure'].includes(restart)) {
    throw new ValidationError(
      'WASMBED_DOCKER_RESTART',
      `WASMBED_DOCKER_RESTART="${restart}" is not no|always|unless-stopped|on-failure`,
    );
  }
  const memoryMb = num('WASMBED_DOCKER_MEMORY_MB');
  const cpus = num('WASMBED_DOCKER_CPUS');
  return {
    image: env.WASMBED_DOCKER_IMAGE || undefined,
    imageCache: env.WASMBED_DOCKER_IMAGE_CACHE || undefined,
    memoryBytes: memoryMb === undefined ? undefined : Math.round(memoryMb * 1024 * 1024),
    nanoCpus: cpus === undefined ? undefined : Math.round(cpus * 1e9),
    pidsLimit: num('WASMBED_DOCKER_PIDS'),
    restartPolicy: restart as DockerRuntimeOptions['restartPolicy'],
    networkMode: env.WASMBED_DOCKER_NETWORK || undefined,
    platformId: env.WASMBED_DOCKER_PLATFORM_ID || undefined,
  };
}
