/**
 * Devices by the hundred: `POST /api/v1/device-batches` (and the dashboard's bulk form). The
 * whole batch is validated before anything is written — a bad item is named by its index and
 * field, a taken name by its name, and then nothing is created. The devices are inserted in
 * one store transaction (workflow ID included, so no second write per device) and their
 * provisioning workflows started with bounded concurrency. A device whose start fails is
 * removed again, as a single create does. Every device of a batch carries the label
 * `wasmbed.io/batch=<name>`: progress is a count by phase over that label, so it survives a
 * restart of the web process and any web replica can answer it.
 */
import { mapInLanes, WORKFLOW_STARTS_AT_ONCE } from '../common/lanes.js';
import crypto from 'node:crypto';
import { AlreadyExistsError, NotFoundError, ValidationError, errorMessage } from '../common/errors.js';
import type { DevicePhase } from '../common/resources.js';
import { MAX_BATCH_DEVICES } from '../common/schemas.js';
import { validateDeviceCreate, validateDnsLabel } from '../common/validation.js';
import type { ResourceStore } from '../store/resource-store.js';
import { provisionWorkflowId } from '../workflows/contracts/index.js';
import type { DeviceService } from './device-service.js';
import { noneStarted } from './workflow-start-error.js';

export const BATCH_LABEL = 'wasmbed.io/batch';

/** Fields every device of a batch shares (the body of a single create, without the name). */
const TEMPLATE_FIELDS = ['mcuType', 'runtime', 'gateway', 'firmware', 'labels'] as const;

export interface DeviceBatchResult {
  name: string;
  total: number;
  started: number;
  /** Devices whose workflow could not be started; they were removed again. */
  failed: { name: string; message: string }[];
  devices: string[];
}

export interface DeviceBatchProgress {
  name: string;
  total: number;
  counts: Partial<Record<DevicePhase, number>>;
  /** Every device is Connected or Failed. */
  settled: boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Re-labels an item's validation error with where the item sits in the request. */
function within(field: (inner: string) => string, what: string, check: () => void): void {
  try {
    check();
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    throw new ValidationError(field(err.field), `${what}: ${err.message}`, { cause: err });
  }
}

/** The devices a batch body asks for, validated as a whole. Throws on the first bad item. */
export function validateDeviceBatch(body: unknown): {
  name: string;
  devices: ReturnType<typeof validateDeviceCreate>[];
} {
  if (!isRecord(body)) throw new ValidationError('body', 'body must be an object');
  const name =
    body.name === undefined
      ? `batch-${crypto.randomBytes(4).toString('hex')}`
      : validateDnsLabel('name', body.name);
  const hasCount = body.count !== undefined;
  const hasList = body.devices !== undefined;
  if (hasCount === hasList) {
    throw new ValidationError(
      hasCount ? 'devices' : 'count',
      'give either count (with prefix) for generated names, or devices (a list of device specs), not both',
    );
  }
  const template: Record<string, unknown> = {};
  for (const field of TEMPLATE_FIELDS) if (body[field] !== undefined) template[field] = body[field];
  let items: Record<string, unknown>[];
  if (hasCount) {
    const count = body.count;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_BATCH_DEVICES) {
      throw new ValidationError('count', `count must be an integer from 1 to ${MAX_BATCH_DEVICES}`);
    }
    const prefix = validateDnsLabel('prefix', body.prefix);
    const start = body.start ?? 1;
    if (typeof start !== 'number' || !Number.isInteger(start) || start < 0) {
      throw new ValidationError('start', 'start must be a non-negative integer');
    }
    const last = `${prefix}-${start + count - 1}`;
    if (last.length > 63) {
      throw new ValidationError(
        'prefix',
        `prefix "${prefix}" makes names like "${last}", longer than 63 characters`,
      );
    }
    items = Array.from({ length: count }, (_, i) => ({ ...template, name: `${prefix}-${start + i}` }));
  } else {
    if (!Array.isArray(body.devices) || body.devices.length < 1 || body.devices.length > MAX_BATCH_DEVICES) {
      throw new ValidationError(
        'devices',
        `devices must be a list of 1 to ${MAX_BATCH_DEVICES} device specs`,
      );
    }
    if (body.prefix !== undefined || body.start !== undefined) {
      throw new ValidationError(
        body.prefix !== undefined ? 'prefix' : 'start',
        'prefix and start go with count',
      );
    }
    items = body.devices.map((item: unknown, i) => {
      if (!isRecord(item)) throw new ValidationError(`devices[${i}]`, `devices[${i}] must be an object`);
      return { ...template, ...item, labels: { ...(template.labels as object), ...(item.labels as object) } };
    });
  }
  const devices: ReturnType<typeof validateDeviceCreate>[] = [];
  const index = new Map<string, number>();
  items.forEach((item, i) => {
    const where = hasCount ? `device ${String(item.name)}` : `devices[${i}]`;
    within(
      (field) => (hasCount ? (field === 'name' ? 'prefix' : field) : `devices[${i}].${field}`),
      where,
      () => {
        if (item.enrollment !== undefined || item.runtime === 'external') {
          throw new ValidationError(
            item.enrollment !== undefined ? 'enrollment' : 'runtime',
            'a batch provisions devices; real boards (runtime external) are pre-registered one by one',
          );
        }
        const device = validateDeviceCreate(item);
        if (index.has(device.name)) {
          throw new ValidationError(
            'name',
            `name "${device.name}" is also devices[${index.get(device.name)}]`,
          );
        }
        index.set(device.name, i);
        device.spec.labels = { ...device.spec.labels, [BATCH_LABEL]: name };
        devices.push(device);
      },
    );
  });
  return { name, devices };
}

export class DeviceBatchService {
  constructor(
    private readonly store: ResourceStore,
    private readonly devices: DeviceService,
  ) {}

  private selector(name: string) {
    return { labelSelector: `${BATCH_LABEL}=${name}` };
  }

  /** Validates everything, inserts every device in one transaction, starts their provisioning. */
  async create(body: unknown): Promise<DeviceBatchResult> {
    return (await this.insert(body)).start();
  }

  /**
   * The first half of create: validation and the one insert. Throws on bad input or a
   * taken name (then nothing was written); the caller starts the workflows, or lets them start
   * in the background (the dashboard) while it answers.
   */
  async insert(
    body: unknown,
  ): Promise<{ name: string; total: number; start: () => Promise<DeviceBatchResult> }> {
    const { name, devices } = validateDeviceBatch(body);
    if (Object.keys(await this.store.countBy('Device', 'phase', this.selector(name))).length > 0) {
      throw new AlreadyExistsError('DeviceBatch', name);
    }
    await this.store.createMany(
      'Device',
      devices.map((d) => ({
        name: d.name,
        spec: d.spec,
        status: { phase: 'Pending', conditions: [], apps: {}, workflowId: provisionWorkflowId(d.name) },
        labels: d.spec.labels,
      })),
    ); // throws AlreadyExistsError naming a taken name: then nothing was created
    return { name, total: devices.length, start: () => this.startAll(name, devices) };
  }

  private async startAll(
    name: string,
    devices: ReturnType<typeof validateDeviceCreate>[],
  ): Promise<DeviceBatchResult> {
    const failed: DeviceBatchResult['failed'] = [];
    let firstError: unknown;
    await mapInLanes(devices, WORKFLOW_STARTS_AT_ONCE, async ({ name: device, spec }) => {
      try {
        await this.devices.startProvisioning(device, { name: device, ...spec }, false);
      } catch (err) {
        await this.store.delete('Device', device);
        firstError ??= err;
        failed.push({ name: device, message: errorMessage(err) });
      }
    });
    if (failed.length === devices.length) {
      throw noneStarted(`no device of batch ${name} could start`, firstError);
    }
    return {
      name,
      total: devices.length,
      started: devices.length - failed.length,
      failed,
      devices: devices.map((d) => d.name),
    };
  }

  /** Counts by phase of the batch's devices (those still there: deleted ones drop out). */
  async progress(name: string): Promise<DeviceBatchProgress> {
    const counts = (await this.store.countBy(
      'Device',
      'phase',
      this.selector(name),
    )) as DeviceBatchProgress['counts'];
    const total = Object.values(counts).reduce((a, b) => a + (b ?? 0), 0);
    if (total === 0) throw new NotFoundError('DeviceBatch', name);
    return { name, total, counts, settled: (counts.Connected ?? 0) + (counts.Failed ?? 0) === total };
  }
}
