/**
 * The images device containers need: the configured device image (pulled if missing) or the
 * virtual-device image built offline by scripts/build-device-image.sh, and the tiny helper image
 * whose never-started containers carry files into a volume. Each is prepared once per worker.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { WasmbedError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { readAll, statusOf } from './engine.js';
import { BUILD_IMAGE_SCRIPT, HELPER_IMAGE, type DockerRuntimeOptions } from './options.js';
import { makeTar } from './tar.js';

export class DeviceImages {
  private imageReady?: Promise<string>;
  private helperReady?: Promise<void>;

  constructor(
    private readonly docker: Docker,
    private readonly options: Pick<DockerRuntimeOptions, 'image' | 'deviceBundle' | 'imageCache'> & {
      logger?: Logger;
    },
  ) {}

  /** The image devices run: the configured one (pulled if missing), or the virtual-device image, built if missing. */
  ensureImage(): Promise<string> {
    this.imageReady ??= this.findOrBuildImage().catch((err) => {
      this.imageReady = undefined; // let the next attempt try again
      throw err;
    });
    return this.imageReady;
  }

  async imageExists(image: string): Promise<boolean> {
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
  ensureHelperImage(): Promise<void> {
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
}
