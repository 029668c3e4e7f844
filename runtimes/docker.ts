/**
 * The docker runtime: each device runs in its own container (the virtual-device image, or an
 * emulator image), with a named volume `firmware-<device>` holding what the device boots from.
 *
 * - The firmware reaches the volume through the engine's archive API (putArchive into a
 *   helper container that mounts the volume and is never started), never through a host bind
 *   mount, so it works with a remote engine (DOCKER_HOST=tcp://…) too; the copy is read back
 *   through the same API and verified by SHA-256.
 * - One container per device, named `wasmbed-device-<device>` and labelled
 *   `wasmbed.io/device=<device>`: the fixed name makes a second create fail, so a retried or
 *   resumed activity adopts the existing container instead of making another.
 * - The memory image (`memory.bin`: endpoint and credential blocks) is put into the volume
 *   before `cpu.run`; the device process stays halted until `cpu.run` appears.
 * - The container's stdout (the device's UART) is streamed into the device log.
 *
 * DOCKER_HOST (and DOCKER_TLS_VERIFY/DOCKER_CERT_PATH) are honoured by docker-modem.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { ValidationError, WasmbedError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { REPO_ROOT } from '../common/repo-root.js';
import { buildMemoryImage, parseEndpoint, type DeviceCredentials } from '../device/memory-contract.js';
import type { DeviceLogs } from '../store/device-logs.js';
import type { DeviceRuntimeBackend, StartedEmulator } from './runtime.js';
import { FirmwareError } from './local-volume.js';
import { DEFAULT_VIRTUAL_FIRMWARE } from './virtual.js';

export const DEVICE_LABEL = 'wasmbed.io/device';
export const HELPER_LABEL = 'wasmbed.io/firmware-copy';
export const PLATFORM_LABEL = 'wasmbed.io/platform';
/** Where the device's volume is mounted inside its container. */
export const VOLUME_MOUNT = '/volume';
/** The user the virtual-device image runs as (docker/Dockerfile): it must be able to read memory.bin (0600). */
export const DEVICE_UID = 65534;
export const HELPER_IMAGE = 'wasmbed/volume-helper:1';
export const BUILD_IMAGE_SCRIPT = path.join(REPO_ROOT, 'scripts', 'build-device-image.sh');

export const volumeName = (device: string): string => `firmware-${device}`;
export const containerName = (device: string): string => `wasmbed-device-${device}`;
export const helperName = (device: string): string => `wasmbed-firmware-copy-${device}`;

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

// ---------------------------------------------------------------------------------------------
// A minimal ustar writer/reader: the archive API speaks tar, and these are single small files.

export interface TarFile {
  name: string;
  data: Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  type?: 'file' | 'dir';
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

export function makeTar(files: TarFile[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const header = Buffer.alloc(512);
    const isDir = file.type === 'dir';
    const name = isDir && !file.name.endsWith('/') ? `${file.name}/` : file.name;
    if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long: ${name}`);
    header.write(name, 0, 100, 'utf8');
    header.write(octal(file.mode ?? (isDir ? 0o755 : 0o644), 8), 100, 'ascii');
    header.write(octal(file.uid ?? 0, 8), 108, 'ascii');
    header.write(octal(file.gid ?? 0, 8), 116, 'ascii');
    header.write(octal(isDir ? 0 : file.data.length, 12), 124, 'ascii');
    header.write(octal(Math.floor(Date.now() / 1000), 12), 136, 'ascii');
    header.write('        ', 148, 'ascii'); // checksum placeholder
    header.write(isDir ? '5' : '0', 156, 'ascii');
    header.write('ustar\0', 257, 'ascii');
    header.write('00', 263, 'ascii');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
    blocks.push(header);
    if (!isDir) {
      blocks.push(file.data);
      const pad = (512 - (file.data.length % 512)) % 512;
      if (pad) blocks.push(Buffer.alloc(pad));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export function readTar(archive: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  while (offset + 512 <= archive.length) {
    const header = archive.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const prefix = header.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 48);
    const full = prefix ? `${prefix}/${name}` : name;
    if (type === '0' || type === '\0')
      files.set(full, Buffer.from(archive.subarray(offset + 512, offset + 512 + size)));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

// ---------------------------------------------------------------------------------------------

const sha256 = (data: Buffer): string => crypto.createHash('sha256').update(data).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err
    ? (err as { statusCode: number }).statusCode
    : undefined;
}

async function readAll(stream: Readable | Buffer | NodeJS.ReadableStream): Promise<Buffer> {
  if (Buffer.isBuffer(stream)) return stream;
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** The text of a non-TTY container log: frames of [stream, 0, 0, 0, size u32 BE] + payload. */
export function demuxLogs(data: Buffer): string {
  let text = '';
  let offset = 0;
  while (offset + 8 <= data.length) {
    const size = data.readUInt32BE(offset + 4);
    text += data.subarray(offset + 8, offset + 8 + size).toString('utf8');
    offset += 8 + size;
  }
  return text;
}

const LOOPBACK = /^(127\.|localhost$|::1$|0\.0\.0\.0$)/;

export class DockerRuntime implements DeviceRuntimeBackend {
  readonly kind = 'docker' as const;
  readonly docker: Docker;
  private readonly options: Required<
    Pick<
      DockerRuntimeOptions,
      | 'memoryBytes'
      | 'nanoCpus'
      | 'pidsLimit'
      | 'restartPolicy'
      | 'networkMode'
      | 'platformId'
      | 'bootCheckMs'
    >
  > &
    DockerRuntimeOptions;
  private imageReady?: Promise<string>;
  private helperReady?: Promise<void>;
  /** Device → the abort of its log follower. */
  private readonly followers = new Map<string, { containerId: string; abort: AbortController }>();

  constructor(options: DockerRuntimeOptions) {
    this.docker = options.docker ?? new Docker();
    this.options = {
      memoryBytes: 256 * 1024 * 1024,
      nanoCpus: 500_000_000,
      pidsLimit: 256,
      restartPolicy: 'unless-stopped',
      networkMode: 'host',
      platformId: crypto.createHash('sha256').update(path.resolve(options.home)).digest('hex').slice(0, 12),
      bootCheckMs: 800,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    } as DockerRuntime['options'];
  }

  /** The image devices run: the configured one (pulled if missing), or the virtual-device image, built if missing. */
  ensureImage(): Promise<string> {
    this.imageReady ??= this.findOrBuildImage().catch((err) => {
      this.imageReady = undefined; // let the next attempt try again
      throw err;
    });
    return this.imageReady;
  }

  private async imageExists(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw err;
    }
  }

  /** `image` on the engine: found, or pulled; a clear error naming the image when neither works. */
  async ensureImagePresent(image: string): Promise<string> {
    if (await this.imageExists(image)) return image;
    this.options.logger?.info('pulling image', { image });
    try {
      const stream = await this.docker.pull(image);
      await new Promise<void>((resolve, reject) =>
        this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
      );
    } catch (cause) {
      throw new WasmbedError(
        'ImageUnavailable',
        `image ${image} is not on the engine and could not be pulled: ${String(cause)}`,
        { cause },
      );
    }
    return image;
  }

  private async findOrBuildImage(): Promise<string> {
    if (this.options.image) return this.ensureImagePresent(this.options.image);
    const bundle = this.options.deviceBundle;
    if (!bundle)
      throw new WasmbedError(
        'ImageUnavailable',
        'no device image configured (WASMBED_DOCKER_IMAGE) and no device bundle to build one from',
      );
    const bundleDir = path.dirname(bundle);
    const tag = `wasmbed/virtual-device:${path.basename(bundleDir).replace(/^device-/, '')}`;
    if (await this.imageExists(tag)) return tag;
    this.options.logger?.info('building the virtual-device image (scripts/build-device-image.sh)', { tag });
    const args = [BUILD_IMAGE_SCRIPT, '--bundle', bundleDir, '--tag', tag];
    if (this.options.imageCache) args.push('--cache', this.options.imageCache);
    const socketPath = (this.docker.modem as unknown as { socketPath?: string }).socketPath;
    const env = { ...process.env };
    if (typeof socketPath === 'string' && socketPath) env.DOCKER_HOST = `unix://${socketPath}`;
    await new Promise<void>((resolve, reject) => {
      execFile(
        'bash',
        args,
        { env, timeout: 20 * 60_000, maxBuffer: 16 * 1024 * 1024 },
        (err, _stdout, stderr) => {
          if (err)
            reject(
              new WasmbedError(
                'ImageBuildFailed',
                `building ${tag} failed: ${stderr.trim().split('\n').slice(-5).join(' | ') || err.message}`,
              ),
            );
          else resolve();
        },
      );
    });
    return tag;
  }

  /** A tiny image (one empty directory) for the never-started containers that carry the firmware into a volume. */
  private ensureHelperImage(): Promise<void> {
    this.helperReady ??= (async () => {
      if (await this.imageExists(HELPER_IMAGE)) return;
      const rootfs = makeTar([
        { name: 'volume', data: Buffer.alloc(0), type: 'dir' },
        {
          name: 'README',
          data: Buffer.from('wasmbed volume helper: never started, only used for the archive API\n'),
        },
      ]);
      const stream = await this.docker.importImage(
        rootfs as unknown as string,
        { repo: 'wasmbed/volume-helper', tag: '1' } as object,
      );
      await readAll(stream as unknown as Readable);
      if (!(await this.imageExists(HELPER_IMAGE)))
        throw new WasmbedError('ImageUnavailable', `could not import ${HELPER_IMAGE}`);
    })().catch((err) => {
      this.helperReady = undefined;
      throw err;
    });
    return this.helperReady;
  }

  private labels(device: string): Record<string, string> {
    return { [DEVICE_LABEL]: device, [PLATFORM_LABEL]: this.options.platformId };
  }

  /** Containers of this device (the device container; `helpers` for the firmware-copy ones). */
  async containers(device: string, which: 'device' | 'helpers' = 'device'): Promise<Docker.ContainerInfo[]> {
    const label = which === 'device' ? DEVICE_LABEL : HELPER_LABEL;
    return this.docker.listContainers({ all: true, filters: { label: [`${label}=${device}`] } });
  }

  async prepareVolume(device: string): Promise<string> {
    const name = volumeName(device);
    try {
      const existing = await this.docker.getVolume(name).inspect();
      const owner = existing.Labels?.[PLATFORM_LABEL];
      if (owner && owner !== this.options.platformId) {
        throw new WasmbedError(
          'VolumeConflict',
          `volume ${name} belongs to another Wasmbed platform (${owner}); remove it or rename the device`,
        );
      }
      return name;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    // Creating a named volume that exists returns it: safe if two attempts race.
    await this.docker.createVolume({ Name: name, Labels: this.labels(device) });
    return name;
  }

  /** A created, never started container that mounts the device's volume (for the archive API). */
  private async helper(device: string): Promise<Docker.Container> {
    await this.ensureHelperImage();
    try {
      const created = await this.docker.createContainer({
        name: helperName(device),
        Image: HELPER_IMAGE,
        Cmd: ['/never-started'],
        Labels: { [HELPER_LABEL]: device, [PLATFORM_LABEL]: this.options.platformId },
        NetworkDisabled: true,
        HostConfig: {
          Mounts: [{ Type: 'volume', Source: volumeName(device), Target: VOLUME_MOUNT }],
          NetworkMode: 'none',
        },
      });
      return created;
    } catch (err) {
      if (statusOf(err) === 409) return this.docker.getContainer(helperName(device)); // left by a crashed attempt
      throw err;
    }
  }

  private async removeQuietly(container: Docker.Container): Promise<void> {
    try {
      await container.remove({ force: true, v: false });
    } catch (err) {
      const status = statusOf(err);
      if (status !== 404 && status !== 409) throw err; // 409: removal already in progress
    }
  }

  /** Reads one file from the volume through a container that mounts it; undefined if absent. */
  private async readVolumeFile(container: Docker.Container, file: string): Promise<Buffer | undefined> {
    try {
      const archive = await readAll(
        (await container.getArchive({ path: `${VOLUME_MOUNT}/${file}` })) as unknown as Readable,
      );
      return readTar(archive).get(file);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  private async writeVolumeFile(
    container: Docker.Container,
    file: string,
    data: Buffer,
    mode: number,
    uid = 0,
  ): Promise<void> {
    const archive = makeTar([{ name: file, data, mode, uid, gid: uid }]);
    // The engine keeps the owner recorded in the tar entry (copyUIDGID would chown to the
    // container's user, which needs that user in the image's passwd file).
    await container.putArchive(archive as unknown as string, { path: VOLUME_MOUNT } as object);
  }

  /**
   * Copies the firmware into the volume (as `file`: firmware.img for the virtual device,
   * firmware.elf for Renode) through the archive API and verifies the copy by SHA-256.
   */
  async copyFirmware(
    device: string,
    source = DEFAULT_VIRTUAL_FIRMWARE,
    file = 'firmware.img',
  ): Promise<{ sha256: string; bytes: number }> {
    if (!fs.existsSync(source))
      throw new ValidationError('firmware', `firmware image "${source}" does not exist`);
    const data = fs.readFileSync(source);
    const expected = sha256(data);
    await this.prepareVolume(device); // idempotent; the volume must exist before a container mounts it
    const helper = await this.helper(device);
    try {
      const current = await this.readVolumeFile(helper, file);
      if (current && sha256(current) === expected) return { sha256: expected, bytes: current.length };
      // The volume's root goes to the device's user: the device writes its `booted` marker there.
      // (An entry for the mount point itself, extracted at /, is what changes its owner.)
      const mountPoint = VOLUME_MOUNT.replace(/^\//, '');
      const archive = makeTar([
        {
          name: `${mountPoint}/`,
          data: Buffer.alloc(0),
          type: 'dir',
          mode: 0o755,
          uid: DEVICE_UID,
          gid: DEVICE_UID,
        },
        { name: `${mountPoint}/${file}`, data, mode: 0o644 },
      ]);
      await helper.putArchive(archive as unknown as string, { path: '/' } as object);
      const copied = await this.readVolumeFile(helper, file);
      const actual = copied ? sha256(copied) : 'nothing';
      if (actual !== expected) {
        throw new FirmwareError(
          'FirmwareCorrupted',
          `firmware copy in volume ${volumeName(device)} has sha256 ${actual}, expected ${expected}`,
        );
      }
      return { sha256: expected, bytes: data.length };
    } finally {
      await this.removeQuietly(helper);
    }
  }

  /** The firmware in the volume and its SHA-256, read through the engine (for checks and tests). */
  async volumeFile(device: string, file: string): Promise<Buffer | undefined> {
    const helper = await this.helper(device);
    try {
      return await this.readVolumeFile(helper, file);
    } finally {
      await this.removeQuietly(helper);
    }
  }

  /**
   * Puts files into the volume (owned by the device's user) through a helper container and
   * reads each back: the volume need not be mounted by a running container.
   */
  async putVolumeFiles(device: string, files: { name: string; data: Buffer; mode: number }[]): Promise<void> {
    const helper = await this.helper(device);
    try {
      for (const file of files) {
        await this.writeVolumeFile(helper, file.name, file.data, file.mode, DEVICE_UID);
        const written = await this.readVolumeFile(helper, file.name);
        if (!written?.equals(file.data))
          throw new WasmbedError(
            'VolumeWriteFailed',
            `${file.name} in volume ${volumeName(device)} did not read back as written`,
          );
      }
    } finally {
      await this.removeQuietly(helper);
    }
  }

  /** The engine's host when it is reached over TCP (DOCKER_HOST=tcp://…); undefined for a local socket. */
  engineHost(): string | undefined {
    const host = (this.docker.modem as unknown as { host?: string }).host;
    return typeof host === 'string' && host ? host : undefined;
  }

  /** The device's container of this platform (running or not), if any. */
  async deviceContainer(device: string): Promise<Docker.ContainerInfo | undefined> {
    const found = await this.containers(device);
    const ours = found.filter((c) => c.Labels[PLATFORM_LABEL] === this.options.platformId);
    if (found.length > 0 && ours.length === 0) {
      throw new WasmbedError(
        'ContainerConflict',
        `container ${found[0]!.Names[0]} for device ${device} belongs to another Wasmbed platform`,
      );
    }
    return ours[0];
  }

  /**
   * Starts the device's container (its CPU halted until cpu.run), or adopts the one that
   * exists. Returns the container id.
   */
  async start(device: string, mcuType: string): Promise<StartedEmulator> {
    return this.startContainer(device, async () => ({
      image: await this.ensureImage(),
      cmd: [`--device=${device}`, `--volume=${VOLUME_MOUNT}`, `--mcu-type=${mcuType}`],
    }));
  }

  /**
   * Runs the device's container from `spec` (asked for only when a container must be made), or
   * adopts the running one; a stopped one is started again as it was created. The container
   * gets the device's name, labels, volume at /volume, restart policy and limits whatever it
   * runs (the virtual device or an emulator such as Renode); its output is the device's UART.
   */
  async startContainer(device: string, spec: () => Promise<DeviceContainerSpec>): Promise<StartedEmulator> {
    const existing = await this.deviceContainer(device);
    if (existing?.State === 'running') {
      this.followLogs(device, existing.Id);
      return { id: existing.Id, adopted: true };
    }
    let container: Docker.Container;
    if (existing) {
      container = this.docker.getContainer(existing.Id);
    } else {
      const wanted = await spec();
      try {
        container = await this.docker.createContainer({
          name: containerName(device),
          Image: wanted.image,
          ...(wanted.entrypoint ? { Entrypoint: wanted.entrypoint } : {}),
          Cmd: wanted.cmd,
          ...(wanted.user ? { User: wanted.user } : {}),
          Env: [`WASMBED_DEVICE_NAME=${device}`, ...(wanted.env ?? [])],
          Labels: { ...(wanted.labels ?? {}), ...this.labels(device) },
          HostConfig: {
            Mounts: [{ Type: 'volume', Source: volumeName(device), Target: VOLUME_MOUNT }],
            ...(wanted.capAdd ? { CapAdd: wanted.capAdd } : {}),
            ...(wanted.devices
              ? {
                  Devices: wanted.devices.map((d) => ({
                    PathOnHost: d,
                    PathInContainer: d,
                    CgroupPermissions: 'rwm',
                  })),
                }
              : {}),
            NetworkMode: this.options.networkMode,
            RestartPolicy:
              this.options.restartPolicy === 'on-failure'
                ? { Name: 'on-failure', MaximumRetryCount: 5 }
                : { Name: this.options.restartPolicy },
            Memory: wanted.memoryBytes ?? this.options.memoryBytes,
            MemorySwap: wanted.memoryBytes ?? this.options.memoryBytes,
            NanoCpus: this.options.nanoCpus,
            PidsLimit: this.options.pidsLimit,
            // The UART log on the engine stays bounded; the platform keeps its own copy.
            LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } },
          },
        });
      } catch (err) {
        if (statusOf(err) !== 409) throw err;
        // Another attempt created it between our look and our create: adopt it.
        const raced = await this.deviceContainer(device);
        if (!raced) throw err;
        container = this.docker.getContainer(raced.Id);
        if (raced.State === 'running') {
          this.followLogs(device, raced.Id);
          return { id: raced.Id, adopted: true };
        }
      }
    }
    try {
      await container.start();
    } catch (err) {
      if (statusOf(err) !== 304) throw err; // 304: already started
    }
    // A device that cannot boot (bad firmware) exits at once: say why now.
    await sleep(this.options.bootCheckMs);
    const info = await container.inspect();
    if (!info.State.Running || info.RestartCount > 0) {
      const tail = demuxLogs(
        await readAll((await container.logs({ stdout: true, stderr: true, tail: 5 })) as unknown as Readable),
      )
        .trim()
        .split('\n')
        .slice(-3)
        .join(' | ');
      throw new WasmbedError(
        'EmulatorExited',
        `container of ${device} exited with code ${info.State.ExitCode} while booting: ${tail}`,
      );
    }
    this.followLogs(device, info.Id);
    return { id: info.Id, adopted: false };
  }

  /** Puts memory.bin (endpoint + credentials) into the volume, then cpu.run: the blocks are in place before the CPU runs. */
  async writeMemory(device: string, endpoint: string, credentials: DeviceCredentials): Promise<void> {
    const { host } = parseEndpoint(endpoint);
    if (this.options.networkMode !== 'host' && LOOPBACK.test(host)) {
      throw new ValidationError(
        'endpoint',
        `gateway endpoint ${endpoint} is a loopback address, which a container on network "${this.options.networkMode}" cannot reach; set WASMBED_GATEWAY_ENDPOINT to an address the containers can dial`,
      );
    }
    const existing = await this.deviceContainer(device);
    if (!existing)
      throw new WasmbedError('EmulatorMissing', `device ${device} has no container; start it first`);
    const container = this.docker.getContainer(existing.Id);
    const image = buildMemoryImage(endpoint, credentials);
    const current = await this.readVolumeFile(container, 'memory.bin');
    if (!current || !current.equals(image)) {
      await this.writeVolumeFile(container, 'memory.bin', image, 0o600, DEVICE_UID);
      const written = await this.readVolumeFile(container, 'memory.bin');
      if (!written?.equals(image))
        throw new WasmbedError('MemoryWriteFailed', `memory.bin of ${device} did not read back as written`);
    }
    if (!(await this.readVolumeFile(container, 'cpu.run'))) {
      await this.writeVolumeFile(container, 'cpu.run', Buffer.from(new Date().toISOString()), 0o644);
    }
  }

  /** Streams the container's output (the UART) into the device log, resuming after the last line stored. */
  followLogs(device: string, containerId: string): void {
    const logs = this.options.logs;
    if (!logs) return;
    const current = this.followers.get(device);
    if (current?.containerId === containerId && !current.abort.signal.aborted) return;
    current?.abort.abort();
    const abort = new AbortController();
    this.followers.set(device, { containerId, abort });
    const last = logs
      .list(device, { limit: 200 })
      .filter((e) => e.appId === null && e.message.startsWith('[uart] '))
      .at(-1)?.time;
    const since = last ? Date.parse(last) / 1000 : 0;
    void (async () => {
      try {
        const stream = (await this.docker.getContainer(containerId).logs({
          follow: true,
          stdout: true,
          stderr: true,
          timestamps: true,
          since,
          abortSignal: abort.signal,
        } as Docker.ContainerLogsOptions & { follow: true })) as unknown as Readable;
        let pending = Buffer.alloc(0);
        let text = '';
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          pending = Buffer.concat([pending, chunk]);
          // Multiplexed frames: [stream, 0, 0, 0, size u32 BE] + payload.
          while (pending.length >= 8) {
            const size = pending.readUInt32BE(4);
            if (pending.length < 8 + size) break;
            text += pending.subarray(8, 8 + size).toString('utf8');
            pending = pending.subarray(8 + size);
          }
          let newline: number;
          while ((newline = text.indexOf('\n')) >= 0) {
            const line = text.slice(0, newline);
            text = text.slice(newline + 1);
            const space = line.indexOf(' ');
            const stamp = space > 0 ? Date.parse(line.slice(0, space)) : NaN;
            const time = Number.isNaN(stamp) ? new Date().toISOString() : new Date(stamp).toISOString();
            if (last && time <= last) continue; // already stored by an earlier follower
            const message = (space > 0 ? line.slice(space + 1) : line).trimEnd();
            if (!message) continue;
            try {
              logs.append({ device, time, appId: null, kind: 'log', level: 1, message: `[uart] ${message}` });
            } catch (err) {
              this.options.logger?.warn('storing a UART line failed', { device, error: String(err) });
            }
          }
        }
      } catch (err) {
        if (!abort.signal.aborted && statusOf(err) !== 404) {
          this.options.logger?.warn('following container logs stopped', { device, error: String(err) });
        }
      } finally {
        if (this.followers.get(device)?.abort === abort) this.followers.delete(device);
      }
    })();
  }

  /** Follows the UART of every running device container of this platform (after a worker restart). */
  async followExistingDevices(): Promise<number> {
    if (!this.options.logs) return 0;
    const running = await this.docker.listContainers({
      filters: { label: [`${PLATFORM_LABEL}=${this.options.platformId}`, DEVICE_LABEL] },
    });
    for (const c of running) this.followLogs(c.Labels[DEVICE_LABEL]!, c.Id);
    return running.length;
  }

  /** Removes every container of the device (and any firmware-copy helper); returns how many device containers. */
  async stop(device: string): Promise<number> {
    this.followers.get(device)?.abort.abort();
    this.followers.delete(device);
    const found = await this.containers(device);
    const helpers = await this.containers(device, 'helpers');
    for (const c of [...found, ...helpers]) await this.removeQuietly(this.docker.getContainer(c.Id));
    return found.length;
  }

  async removeVolume(device: string): Promise<void> {
    // A container that still mounts the volume would keep it; stop() normally ran first.
    for (const c of await this.containers(device, 'helpers'))
      await this.removeQuietly(this.docker.getContainer(c.Id));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.docker.getVolume(volumeName(device)).remove();
        return;
      } catch (err) {
        const status = statusOf(err);
        if (status === 404) return;
        if (status === 409 && attempt < 20) {
          await sleep(250); // a container removal still in progress
          continue;
        }
        throw err;
      }
    }
  }

  /** Stops following logs (worker shutdown). Containers keep running. */
  close(): void {
    for (const { abort } of this.followers.values()) abort.abort();
    this.followers.clear();
  }
}
