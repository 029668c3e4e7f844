/**
 * The virtual device: behaves like the firmware. It boots from the firmware image in its
 * volume, stays halted until the platform has written its memory blocks and released the
 * CPU, refuses to dial an endpoint block that does not validate, then holds a
 * mutual-TLS session to the gateway: DeviceInfo (Hello), heartbeats, reconnect with backoff.
 */
import fs from 'node:fs';
import { errorMessage, WasmbedError } from '../common/errors.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { DeviceLink, type DeviceCredentialsPem } from './device-link.js';
import { readMemoryImage } from './memory-contract.js';

export interface VirtualFirmware {
  format: 'wasmbed-virtual-firmware';
  firmwareVersion: string;
  wasmFeatures: string[];
}

export interface VirtualDeviceOptions {
  name: string;
  mcuType: string;
  files: { firmware: string; memory: string; cpuRun: string };
  backoff?: BackoffOptions;
  log?: (line: string) => void;
  /** Free RAM reported to the gateway; the virtual device models the MCU profile's RAM. */
  freeMemory?: number;
  maxAppSize?: number;
}

export function readFirmware(file: string): VirtualFirmware {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new WasmbedError('FirmwareInvalid', `cannot read firmware image ${file}`, { cause });
  }
  const fw = parsed as Partial<VirtualFirmware>;
  if (fw.format !== 'wasmbed-virtual-firmware' || typeof fw.firmwareVersion !== 'string') {
    throw new WasmbedError('FirmwareInvalid', `${file} is not a wasmbed virtual firmware image`);
  }
  return { format: fw.format, firmwareVersion: fw.firmwareVersion, wasmFeatures: fw.wasmFeatures ?? [] };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class VirtualDevice {
  private readonly bootedAt = Date.now();
  private stopped = false;
  private link?: DeviceLink;
  private readonly log: (line: string) => void;

  constructor(private readonly options: VirtualDeviceOptions) {
    this.log = options.log ?? ((line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
  }

  /** Boots and keeps the device connected until stop() is called. */
  async run(): Promise<void> {
    const firmware = readFirmware(this.options.files.firmware);
    this.log(`boot: wasmbed virtual firmware ${firmware.firmwareVersion} on ${this.options.mcuType}`);
    await this.waitForCpuRelease();
    let attempt = 0;
    while (!this.stopped) {
      let memory;
      try {
        memory = readMemoryImage(fs.readFileSync(this.options.files.memory));
      } catch (err) {
        this.log(`refusing to dial: ${errorMessage(err)}`);
        await sleep(1000);
        continue;
      }
      const connected = await this.session(memory.endpoint, memory.credentials, firmware);
      if (this.stopped) break;
      attempt = connected ? 0 : attempt + 1;
      const delay = backoffDelay(attempt, this.options.backoff ?? { baseMs: 250, capMs: 30_000 });
      this.log(`reconnecting in ${delay} ms`);
      await sleep(delay);
    }
  }

  private async waitForCpuRelease(): Promise<void> {
    while (!this.stopped && !fs.existsSync(this.options.files.cpuRun)) await sleep(50);
    this.log('cpu released');
  }

  /** One connection; resolves when it ends, with whether a session was established. */
  private session(
    endpoint: string,
    credentials: DeviceCredentialsPem,
    firmware: VirtualFirmware,
  ): Promise<boolean> {
    const link = new DeviceLink({
      endpoint,
      credentials,
      bootedAt: this.bootedAt,
      log: this.log,
      deviceInfo: () => ({
        firmwareVersion: firmware.firmwareVersion,
        mcuType: this.options.mcuType,
        freeMemory: this.options.freeMemory ?? 256 * 1024,
        maxAppSize: this.options.maxAppSize ?? 128 * 1024,
        wasmFeatures: firmware.wasmFeatures,
      }),
    });
    this.link = link;
    return link.closed;
  }

  stop(): void {
    this.stopped = true;
    this.link?.close();
  }
}
