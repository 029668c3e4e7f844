/**
 * Device operations behind the REST API and the dashboard: validate, record, start the
 * workflow. One code path, so both front ends behave the same.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ORCHESTRATOR_TASK_QUEUE } from '../common/config.js';
import {
  ConflictError,
  errorMessage,
  NotFoundError,
  ValidationError,
  WasmbedError,
} from '../common/errors.js';
import { mapInLanes, WORKFLOW_STARTS_AT_ONCE } from '../common/lanes.js';
import type { Device } from '../common/resources.js';
import { validateDeviceCreate } from '../common/validation.js';
import { LIST_FILTER_PARAMS, type ListFilters } from '../store/list-query.js';
import type { ResourceStore } from '../store/resource-store.js';
import { onOrchestratorQueue, type ProvisioningQueue } from './provisioning-queue.js';
import { DEVICE_ATTRIBUTE, PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { startWorkflow, workflowHandle } from '../temporal/workflow-calls.js';
import { noneStarted, workflowStartError } from './workflow-start-error.js';
import {
  deprovisionDeviceWorkflow,
  deprovisionWorkflowId,
  deviceLifecycleWorkflow,
  enrollWorkflowId,
  lifecycleWorkflowId,
  provisionDeviceWorkflow,
  provisionWorkflowId,
  rotateCertificateSignal,
  type ProvisionDeviceInput,
} from '../workflows/contracts/index.js';

/** What a delete of many devices started, and the devices whose deprovisioning could not start. */
export interface DevicesDeleted {
  items: { name: string; workflowId: string }[];
  failed: { name: string; message: string }[];
}

export interface DeviceServiceOptions {
  /**
   * How long a Retry waits for the failed provisioning run to close (default 10 s). The run
   * records Failed from its last step and closes a moment later; one still running after this
   * long is answered with a ConflictError.
   */
  failedRunCloseWaitMs?: number;
}

export class DeviceService {
  constructor(
    private readonly store: ResourceStore,
    private readonly client: Client,
    /** Where provisioning runs start (services/provisioning-queue.ts). */
    private readonly queueFor: ProvisioningQueue = onOrchestratorQueue,
    private readonly options: DeviceServiceOptions = {},
  ) {}

  list(): Promise<Device[]> {
    return this.store.list('Device');
  }

  async get(name: string): Promise<Device> {
    const device = await this.store.get('Device', name);
    if (!device) throw new NotFoundError('Device', name);
    return device;
  }

  /** Validates, records the device as Pending and starts provisioning. Nothing is kept if the start fails. */
  async create(body: unknown): Promise<{ name: string; workflowId: string }> {
    const { name, spec } = validateDeviceCreate(body);
    if (spec.runtime === 'external') {
      // A real board: nothing to provision; it enrolls itself and is approved at once.
      await this.store.create(
        'Device',
        name,
        spec,
        {
          phase: 'Pending',
          conditions: [],
          apps: {},
          message: 'waiting for the board to enroll with a claim credential',
          enrollment: { state: 'Preauthorized' },
        },
        spec.labels ?? {},
      );
      return { name, workflowId: enrollWorkflowId(name) };
    }
    await this.store.create(
      'Device',
      name,
      spec,
      { phase: 'Pending', conditions: [], apps: {} },
      spec.labels ?? {},
    ); // throws AlreadyExistsError: the first device stays the only one
    try {
      const workflowId = await this.startProvisioning(name, { name, ...spec });
      return { name, workflowId };
    } catch (err) {
      await this.store.delete('Device', name);
      throw err;
    }
  }

  /** Starts a new provisioning run for a Failed device; its idempotent steps resume where the last run stopped. */
  async retry(name: string): Promise<{ name: string; workflowId: string }> {
    const device = await this.provisionable(name);
    const onlyFailed = (phase: string) => {
      if (phase !== 'Failed') {
        throw new ConflictError(`device "${name}" is ${phase}; only Failed devices can be retried`);
      }
    };
    onlyFailed(device.status.phase);
    await this.untilFailedRunClosed(name);
    // Checked again inside the status update: two retries at once see one winner.
    await this.store.updateStatus('Device', name, (s) => {
      onlyFailed(s.phase);
      return { ...s, phase: 'Pending', message: undefined };
    });
    const workflowId = await this.startProvisioning(name, { name, ...device.spec });
    return { name, workflowId };
  }

  /**
   * A failed run writes Failed from its last step (markFailed) and closes just after. A Retry in
   * between would find it still running, take it for "a run is already going" and start nothing,
   * leaving the device Pending for good: so wait for it to close first.
   */
  private async untilFailedRunClosed(name: string): Promise<void> {
    const waitMs = this.options.failedRunCloseWaitMs ?? 10_000;
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (!(await this.provisioningRunning(name))) return;
      if (Date.now() >= deadline) {
        throw new ConflictError(
          `device "${name}" is Failed but ${provisionWorkflowId(name)} is still running after ${waitMs} ms; retry once it ends`,
        );
      }
      // (Usually closed by the second look: the run was finishing its last workflow task.)
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Whether `provision-<name>` has a run going (none ever started: no). */
  private async provisioningRunning(name: string): Promise<boolean> {
    try {
      const run = await workflowHandle(
        this.client,
        provisionDeviceWorkflow,
        provisionWorkflowId(name),
      ).describe();
      return run.status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw wrapTemporal(err);
    }
  }

  /**
   * Starts a new provisioning run for a device that is not being provisioned or deleted. Every
   * step is idempotent, so on a healthy device it re-checks certificate, volume, firmware,
   * process, gateway and endpoint and awaits the session again. (A true emulator restart and
   * certificate rotation need backends that do not exist yet.)
   */
  async restart(name: string): Promise<{ name: string; workflowId: string }> {
    const device = await this.provisionable(name);
    if (device.status.phase === 'Deprovisioning') {
      throw new ConflictError(`device "${name}" is being deleted`);
    }
    if (await this.provisioningRunning(name)) {
      throw new ConflictError(
        `device "${name}" is already being provisioned by ${provisionWorkflowId(name)}`,
      );
    }
    // Keep a running device on the gateway that holds its session: a new run that picked
    // another gateway would rewrite the endpoint of a device that is already connected and
    // then wait for a session that never comes there.
    const current = device.status.gateway?.name;
    const gateway =
      current && (await this.store.get('Gateway', current))?.status.phase === 'Ready'
        ? current
        : device.spec.gateway;
    // Its steps start over (beginProvisioning makes them fresh): the old run's, all Succeeded,
    // read "7/7 Pending" in `device restart --watch` and on the dashboard while the new run had
    // done nothing yet. (A retry keeps them: it resumes where the failed run stopped.)
    await this.store.updateStatus('Device', name, (s) => {
      if (s.phase === 'Deprovisioning') throw new ConflictError(`device "${name}" is being deleted`);
      return { ...s, phase: 'Pending', message: undefined, steps: undefined };
    });
    const workflowId = await this.startProvisioning(name, {
      name,
      ...device.spec,
      ...(gateway ? { gateway } : {}),
    });
    return { name, workflowId };
  }

  /** Asks the device's lifecycle workflow for a new certificate now; its apps keep running. */
  async rotateCertificate(name: string): Promise<{ name: string; workflowId: string }> {
    const device = await this.get(name);
    if (device.status.phase !== 'Connected') {
      throw new ConflictError(
        `device "${name}" is ${device.status.phase}; certificates are rotated on Connected devices`,
      );
    }
    const workflowId = lifecycleWorkflowId(name);
    try {
      await workflowHandle(this.client, deviceLifecycleWorkflow, workflowId).signal(rotateCertificateSignal);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw new ConflictError(`device "${name}" has no lifecycle workflow`);
      throw wrapTemporal(err);
    }
    return { name, workflowId };
  }

  async delete(name: string): Promise<{ name: string; workflowId: string }> {
    await this.get(name);
    return this.startDeprovisioning(name);
  }

  /**
   * Deletes every device the filters select (DELETE /devices/{name} for each, 32 starts at a
   * time): a fleet torn down in one request instead of one per device. At least one filter, so
   * that a request that lost its query string cannot empty the fleet. A device whose
   * deprovisioning could not start is in `failed`, with why; none at all is TemporalUnavailable.
   */
  async deleteMany(filters: ListFilters): Promise<DevicesDeleted> {
    const given = Object.entries(filters).filter(([, value]) => value !== undefined && value !== '');
    if (given.length === 0) {
      throw new ValidationError(
        'query',
        `deleting devices by filter needs at least one of ${LIST_FILTER_PARAMS.join(', ')} ` +
          '(DELETE /api/v1/devices/{name} deletes one device)',
      );
    }
    const { items } = await this.store.listPage('Device', Object.fromEntries(given));
    const names = items.map((d) => d.metadata.name);
    const failed: DevicesDeleted['failed'] = [];
    let firstError: unknown;
    const started = await mapInLanes(names, WORKFLOW_STARTS_AT_ONCE, async (name) => {
      try {
        return await this.startDeprovisioning(name);
      } catch (err) {
        firstError ??= err;
        failed.push({ name, message: errorMessage(err) });
        return undefined;
      }
    });
    if (names.length > 0 && failed.length === names.length) {
      throw noneStarted("no device's deprovisioning could start", firstError);
    }
    return { items: started.filter((s) => s !== undefined), failed };
  }

  /** Starts `deprovision-<name>` (one already running is the answer, not an error). */
  private async startDeprovisioning(name: string): Promise<{ name: string; workflowId: string }> {
    const workflowId = deprovisionWorkflowId(name);
    try {
      await startWorkflow(this.client, deprovisionDeviceWorkflow, {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId,
        args: [{ name }],
        typedSearchAttributes: [
          { key: DEVICE_ATTRIBUTE, value: name },
          { key: PHASE_ATTRIBUTE, value: 'Deprovisioning' },
        ],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw wrapTemporal(err);
    }
    return { name, workflowId };
  }

  /** A device the platform runs itself; real boards (runtime external) enroll instead. */
  private async provisionable(name: string): Promise<Device> {
    const device = await this.get(name);
    if (device.spec.runtime === 'external') {
      throw new ConflictError(
        `device "${name}" is a real board (runtime external): it is not provisioned by the platform, it enrolls itself`,
      );
    }
    return device;
  }

  /**
   * Starts `provision-<name>` (an already running one is the answer, not an error). Records the
   * workflow ID on the device unless the caller wrote it with the device (batches).
   */
  async startProvisioning(
    name: string,
    input: ProvisionDeviceInput,
    recordWorkflowId = true,
  ): Promise<string> {
    const workflowId = provisionWorkflowId(name);
    try {
      await startWorkflow(this.client, provisionDeviceWorkflow, {
        taskQueue: await this.queueFor(name),
        workflowId,
        args: [input],
        typedSearchAttributes: [
          { key: DEVICE_ATTRIBUTE, value: name },
          { key: PHASE_ATTRIBUTE, value: 'Provisioning' },
        ],
      });
    } catch (err) {
      // A run for this device is already going: that run is the answer, not a second one.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw wrapTemporal(err);
    }
    if (recordWorkflowId) await this.store.updateStatus('Device', name, (s) => ({ ...s, workflowId }));
    return workflowId;
  }
}

function wrapTemporal(err: unknown): WasmbedError {
  return workflowStartError(err);
}
