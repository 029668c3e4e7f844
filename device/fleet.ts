/**
 * The fleet client: one process holding N device sessions, each with its own certificate,
 * for load tests, benchmarks and hostile-traffic tests. Devices share one key pair (a
 * certificate per device is what the gateway checks) so issuing thousands is fast.
 */
import crypto from 'node:crypto';
import { paths } from '../common/config.js';
import {
  CertificateAuthority,
  DEFAULT_DEVICE_KEY_TYPE,
  DeviceCertificates,
  SqliteCertificateRepository,
  type KeyType,
} from '../pki/index.js';
import { generatePrivateKey } from '../pki/keys.js';
import type { Message } from '../protocol/messages.js';
import { openDatabase } from '../store/sqlite.js';
import { DeviceLink } from './device-link.js';

export type FleetBehaviour = 'ack' | 'silent';

export interface FleetOptions {
  /** The platform's data dir: its CA and certificate table issue the fleet's certificates. */
  home: string;
  endpoint: string;
  prefix?: string;
  count: number;
  behaviour?: FleetBehaviour;
  /** Handshakes started at once. */
  concurrency?: number;
  /**
   * Offer a saved TLS session when connecting. `true`: the latest session any device got,
   * shared by all — a resumed session keeps the identity (client certificate) it was first
   * made with, so the gateway sees those devices as that one device. 'per-device': each
   * device offers only its own last session, so it resumes from its second connect() on.
   */
  resumeTls?: boolean | 'per-device';
  /** The devices' (shared) key: EC P-256 unless told otherwise, as provisioned devices have. */
  keyType?: KeyType;
}

export interface FleetDevice {
  name: string;
  link?: DeviceLink;
}

export class Fleet {
  readonly devices: FleetDevice[] = [];
  private tlsSession?: Buffer;
  private readonly deviceTlsSessions: (Buffer | undefined)[] = [];
  /** For every link: without it DeviceLink's uptime is Date.now() - Date.now(), -1 if the ms ticks between. */
  private readonly bootedAt = Date.now();
  private credentials: { certPem: string; keyPem: string; caPem: string }[] = [];

  constructor(private readonly options: FleetOptions) {}

  /** Issues (or finds) a certificate for every fleet device. */
  async prepare(): Promise<void> {
    const { home, count, prefix = 'fleet' } = this.options;
    const ca = await CertificateAuthority.load(paths.pki(home));
    const db = openDatabase(paths.db(home));
    try {
      const certificates = new DeviceCertificates(ca, new SqliteCertificateRepository(db));
      const privateKey = generatePrivateKey(this.options.keyType ?? DEFAULT_DEVICE_KEY_TYPE);
      const publicKeyPem = crypto
        .createPublicKey(privateKey)
        .export({ type: 'spki', format: 'pem' })
        .toString();
      const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      for (let i = 0; i < count; i++) {
        const name = `${prefix}-${i}`;
        const record = await certificates.issue(name, { publicKeyPem });
        this.devices.push({ name });
        this.credentials.push({ certPem: record.certPem, keyPem, caPem: ca.certPem });
      }
    } finally {
      db.close();
    }
  }

  private reply(body: Message): Message | undefined {
    if (this.options.behaviour === 'silent') return undefined;
    switch (body.type) {
      case 'DeployApplication':
        return { type: 'DeployAck', appId: body.appId, ok: true, error: null };
      case 'StopApplication':
        return { type: 'StopAck', appId: body.appId, ok: true, error: null };
      case 'RequestApplicationStatus':
        return { type: 'ApplicationStatus', apps: [] };
      default:
        return undefined;
    }
  }

  private connectOne(index: number): Promise<boolean> {
    const device = this.devices[index]!;
    return new Promise((resolve) => {
      const link = new DeviceLink({
        endpoint: this.options.endpoint,
        credentials: this.credentials[index]!,
        deviceInfo: () => ({
          firmwareVersion: 'fleet-0.1.0',
          mcuType: 'Stm32F746gDisco',
          freeMemory: 256 * 1024,
          maxAppSize: 128 * 1024,
          wasmFeatures: [],
        }),
        bootedAt: this.bootedAt,
        onRequest: (body) => this.reply(body),
        onEstablished: () => resolve(true),
        session:
          this.options.resumeTls === 'per-device'
            ? this.deviceTlsSessions[index]
            : this.options.resumeTls
              ? this.tlsSession
              : undefined,
        onSession: (session) => {
          this.tlsSession = session;
          if (this.options.resumeTls === 'per-device') this.deviceTlsSessions[index] = session;
        },
      });
      device.link = link;
      void link.closed.then(() => resolve(false));
    });
  }

  /** Connects every device, `concurrency` handshakes at a time; resolves with how many succeeded. */
  async connect(): Promise<number> {
    const concurrency = this.options.concurrency ?? 64;
    let next = 0;
    let connected = 0;
    const worker = async () => {
      while (next < this.devices.length) {
        const index = next++;
        if (await this.connectOne(index)) connected++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, this.devices.length) }, worker));
    return connected;
  }

  close(): void {
    for (const device of this.devices) device.link?.close();
  }
}
