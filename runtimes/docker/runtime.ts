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
 * - The fence between device hosts (`hostId`): a container carries the host that runs it
 *   (`wasmbed.io/host`) and a host adopts only its own. A host that a device was moved to
 *   removes the container the old host left on a shared engine before it writes or starts
 *   anything, and makes the device a new key when the volume's key was made by another host (the
 *   old certificate is then revoked); `ownContainers` lists what the host's fence checks.
 *
 * DOCKER_HOST (and DOCKER_TLS_VERIFY/DOCKER_CERT_PATH) are honoured by docker-modem.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { isHostOnlyAddress } from '../../common/config.js';
import {
  EmulatorUnavailableError,
  ValidationError,
  WasmbedError,
  errorMessage,
} from '../../common/errors.js';
import { buildMemoryImage, parseEndpoint, type DeviceCredentials } from '../../device/memory-contract.js';
import { DEFAULT_DEVICE_KEY_TYPE, generatePrivateKey } from '../../pki/keys.js';
import type { DeviceKey, DeviceRuntimeBackend, StartedEmulator } from '../runtime.js';
import { DEVICE_KEY_FILE, FirmwareError, deviceKeyFrom } from '../local-volume.js';
import { DEFAULT_VIRTUAL_FIRMWARE } from '../virtual.js';
import { demuxLogs, isNoEngine, readAll, statusOf } from './engine.js';
import { DeviceImages } from './images.js';
import { ContainerLogFollower } from './logs.js';
import {
  DEVICE_LABEL,
  DEVICE_UID,
  HELPER_IMAGE,
  HELPER_LABEL,
  HOST_LABEL,
  PLATFORM_LABEL,
  VOLUME_HOST_FILE,
  VOLUME_MOUNT,
  containerName,
  helperName,
  platformIdFor,
  volumeName,
  type DeviceContainerSpec,
  type DockerRuntimeOptions,
} from './options.js';
import { makeTar, readTar } from './tar.js';

const sha256 = (data: Buffer): string => crypto.createHash('sha256').update(data).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
  private readonly images: DeviceImages;
  private readonly uart: ContainerLogFollower;

  constructor(options: DockerRuntimeOptions) {
    this.docker = options.docker ?? new Docker();
    this.options = {
      memoryBytes: 256 * 1024 * 1024,
      nanoCpus: 500_000_000,
      pidsLimit: 256,
      restartPolicy: 'unless-stopped',
      networkMode: 'host',
      platformId: platformIdFor(options.home),
      bootCheckMs: 800,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    } as DockerRuntime['options'];
    this.images = new DeviceImages(this.docker, this.options);
    this.uart = new ContainerLogFollower(this.docker, this.options.logs, this.options.logger);
  }

  /** The image devices run: the configured one (pulled if missing), or the virtual-device image, built if missing. */
  ensureImage(): Promise<string> {
    return this.images.ensureImage();
  }

  /** `image` on the engine: found, or pulled; a clear error naming the image when neither works. */
  ensureImagePresent(image: string): Promise<string> {
    return this.images.ensureImagePresent(image);
  }

  private labels(device: string): Record<string, string> {
    const host = this.options.hostId;
    return {
      [DEVICE_LABEL]: device,
      [PLATFORM_LABEL]: this.options.platformId,
      ...(host ? { [HOST_LABEL]: host } : {}),
    };
  }

  /** Whether a device container is this host's to adopt: it names this host, or no host (from before hosts, or no hostId set). */
  private isOwn(container: Docker.ContainerInfo): boolean {
    const host = container.Labels[HOST_LABEL];
    return host === undefined || this.options.hostId === undefined || host === this.options.hostId;
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
      // The first call a device's provisioning makes to the engine (issueCertificate makes the
      // key in the volume): without an engine it retried five times and failed with a bare
      // "connect ENOENT /var/run/docker.sock".
      if (isNoEngine(err)) {
        throw new EmulatorUnavailableError(
          `no Docker engine: ${errorMessage(err)}; start one (sudo bash scripts/setup-docker.sh) or point DOCKER_HOST at one`,
          { cause: err },
        );
      }
      if (statusOf(err) !== 404) throw err;
    }
    // Creating a named volume that exists returns it: safe if two attempts race.
    await this.docker.createVolume({ Name: name, Labels: this.labels(device) });
    return name;
  }

  /** A created, never started container that mounts the device's volume (for the archive API). */
  private async helper(device: string): Promise<Docker.Container> {
    await this.images.ensureHelperImage();
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

  /**
   * The device's key pair in its named volume (device.key, 0600, owned by the device's user).
   * With a `hostId`, the volume also names the host that made the key (`host`): a host that
   * takes over a device whose key another host made (a device moved off a dead host, on an
   * engine both reach) makes a new one, so the certificate it gets revokes the old identity
   * that a copy left behind might still present.
   */
  async deviceKey(device: string): Promise<DeviceKey> {
    await this.prepareVolume(device);
    const where = `${DEVICE_KEY_FILE} in volume ${volumeName(device)}`;
    const host = this.options.hostId;
    const helper = await this.helper(device);
    try {
      const existing = await this.readVolumeFile(helper, DEVICE_KEY_FILE);
      const madeBy = host
        ? (await this.readVolumeFile(helper, VOLUME_HOST_FILE))?.toString('utf8')
        : undefined;
      const marker = host ? [{ name: VOLUME_HOST_FILE, data: Buffer.from(host), mode: 0o644 }] : [];
      if (existing && (madeBy === undefined || madeBy === host)) {
        if (host && madeBy === undefined) await this.writeVerified(helper, device, marker);
        return deviceKeyFrom(existing.toString('utf8'), where);
      }
      if (existing)
        this.options.logger?.warn('new key for a device taken over from another host', {
          device,
          from: madeBy,
        });
      const pem = generatePrivateKey(DEFAULT_DEVICE_KEY_TYPE)
        .export({ type: 'pkcs8', format: 'pem' })
        .toString();
      await this.writeVerified(helper, device, [
        { name: DEVICE_KEY_FILE, data: Buffer.from(pem), mode: 0o600 },
        ...marker,
      ]);
      return deviceKeyFrom(pem, where);
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
      await this.writeVerified(helper, device, files);
    } finally {
      await this.removeQuietly(helper);
    }
  }

  private async writeVerified(
    container: Docker.Container,
    device: string,
    files: { name: string; data: Buffer; mode: number }[],
  ): Promise<void> {
    for (const file of files) {
      await this.writeVolumeFile(container, file.name, file.data, file.mode, DEVICE_UID);
      const written = await this.readVolumeFile(container, file.name);
      if (!written?.equals(file.data))
        throw new WasmbedError(
          'VolumeWriteFailed',
          `${file.name} in volume ${volumeName(device)} did not read back as written`,
        );
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
   * The device's container of this platform if it is this host's; one that another host left
   * (the device was placed here since) is removed first — never two copies of the device, and
   * never one this host adopts with the other host's memory and key.
   */
  private async ownDeviceContainer(device: string): Promise<Docker.ContainerInfo | undefined> {
    const existing = await this.deviceContainer(device);
    if (!existing || this.isOwn(existing)) return existing;
    this.options.logger?.warn('removing the container another host left for a device placed here', {
      device,
      host: existing.Labels[HOST_LABEL],
      container: existing.Id,
    });
    await this.removeQuietly(this.docker.getContainer(existing.Id));
    return undefined;
  }

  /**
   * The running device containers labelled with this host (all of this platform's without a
   * `hostId`): what the host's fence checks. One from before hosts were labelled is left alone
   * here, since on a shared engine it may be another host's.
   */
  async ownContainers(): Promise<{ device: string; id: string }[]> {
    const host = this.options.hostId;
    const running = await this.docker.listContainers({
      filters: {
        label: [
          `${PLATFORM_LABEL}=${this.options.platformId}`,
          DEVICE_LABEL,
          ...(host ? [`${HOST_LABEL}=${host}`] : []),
        ],
      },
    });
    return running.map((c) => ({ device: c.Labels[DEVICE_LABEL]!, id: c.Id }));
  }

  /** Removes one container of the device (by id: another host's container of it stays). */
  async removeContainer(device: string, id: string): Promise<void> {
    this.uart.unfollow(device);
    await this.removeQuietly(this.docker.getContainer(id));
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
    const existing = await this.ownDeviceContainer(device);
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
        if (!raced || !this.isOwn(raced)) throw err;
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
    if (this.options.networkMode !== 'host' && isHostOnlyAddress(host)) {
      throw new ValidationError(
        'endpoint',
        `gateway endpoint ${endpoint} is a loopback address, which a container on network "${this.options.networkMode}" cannot reach; set WASMBED_GATEWAY_ENDPOINT to an address the containers can dial`,
      );
    }
    // Through the device's container, or a helper when it has none yet (a device brought back
    // on this host gets its endpoint before its container starts).
    const existing = await this.ownDeviceContainer(device);
    const helper = existing ? undefined : await this.helper(device);
    try {
      await this.writeMemoryThrough(
        helper ?? this.docker.getContainer(existing!.Id),
        device,
        endpoint,
        credentials,
      );
    } finally {
      if (helper) await this.removeQuietly(helper);
    }
  }

  private async writeMemoryThrough(
    container: Docker.Container,
    device: string,
    endpoint: string,
    credentials: DeviceCredentials,
  ): Promise<void> {
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
    this.uart.follow(device, containerId);
  }

  /** Follows the UART of every running device container of this platform (after a worker restart). */
  async followExistingDevices(): Promise<number> {
    if (!this.options.logs) return 0;
    const running = await this.docker.listContainers({
      filters: { label: [`${PLATFORM_LABEL}=${this.options.platformId}`, DEVICE_LABEL] },
    });
    // Only this host's: the host a device was moved to follows its new container.
    const own = running.filter((c) => this.isOwn(c));
    for (const c of own) this.followLogs(c.Labels[DEVICE_LABEL]!, c.Id);
    return own.length;
  }

  /** Removes every container of the device (and any firmware-copy helper); returns how many device containers. */
  async stop(device: string): Promise<number> {
    this.uart.unfollow(device);
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
    this.uart.close();
  }
}
