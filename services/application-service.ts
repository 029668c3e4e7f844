/**
 * Application operations behind the REST API: a bad module is refused here, before any
 * device sees it; a good one is stored by hash and rolled out by a workflow.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ORCHESTRATOR_TASK_QUEUE } from '../common/config.js';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../common/errors.js';
import type { Application, ApplicationSpec, RolloutClaim } from '../common/resources.js';
import { validateApplicationCreate, type ApplicationCreateInput } from '../common/validation.js';
import { targetsDevice } from '../common/application-status.js';
import { versionOf } from '../common/app-version.js';
import { deployMessageMisfit, moduleMisfit } from '../device/apps/fit.js';
import { checkAppModule } from '../device/apps/index.js';
import { claimable, newClaim, ROLLOUT_CLAIM_LEASE_MS } from './rollout-claim.js';
import { sha256Hex, type ModuleStore } from '../store/module-store.js';
import type { ResourceStore } from '../store/resource-store.js';
import { APPLICATION_ATTRIBUTE, PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { startWorkflow, workflowHandle } from '../temporal/workflow-calls.js';
import { workflowStartError } from './workflow-start-error.js';
import {
  abortSignal,
  deployApplicationWorkflow,
  deployWorkflowId,
  promoteSignal,
  stopWorkflowId,
  undeployApplicationWorkflow,
  undeployWorkflowId,
} from '../workflows/contracts/index.js';

type ModuleRef = { sha256: string; size: number };

/**
 * Memo on every deploy/undeploy run: which object (uid) at which generation it serves, so the
 * Kubernetes controller can tell a run already started for a change (by it or by this API)
 * from one it must start.
 */
export type RunMemo = { uid?: string; generation?: number };
const runMemo = (app: Application): RunMemo => ({
  uid: app.metadata.uid,
  generation: app.metadata.generation,
});

/**
 * Whether the latest run of `workflowId` was started for this object (uid) at this generation
 * or a later one (its memo says so); with `runningOnly`, only while it still runs.
 */
export async function runServes(
  client: Client,
  workflowId: string,
  app: { metadata: { uid: string; generation?: number } },
  options: { runningOnly?: boolean } = {},
): Promise<boolean> {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    const memo = (d.memo ?? {}) as RunMemo;
    if (options.runningOnly && d.status.name !== 'RUNNING') return false;
    return memo.uid === app.metadata.uid && (memo.generation ?? 0) >= (app.metadata.generation ?? 1);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * The status of an Application about to roll out a new version of itself. A stopped one runs
 * nothing, and that is what a failing rollout of it goes back to (the app stopped, as for a new
 * app): going back to the version it ran before the stop started that version again on every
 * device of the failed wave, and a device joining later was given it too.
 *
 * `spec` is the version being replaced, when the caller has it: an app whose first rollout is
 * still under way has no `currentModule` yet (a rollout sets it as it ends), but the devices that
 * rollout reached run its version — what a failing update goes back to. Taken for none, the
 * rollback stopped the app on devices that had run it a moment before.
 */
export function nextVersion(status: Application['status'], spec?: ApplicationSpec): Application['status'] {
  const stopped = status.phase === 'Stopped';
  const runningFirstVersion =
    spec && !status.currentModule && Object.values(status.devices).some((d) => d.state === 'Running')
      ? versionOf(spec)
      : undefined;
  return {
    ...status,
    phase: 'Pending',
    previousModule: stopped
      ? undefined
      : (status.currentModule ?? runningFirstVersion ?? status.previousModule),
    currentModule: stopped ? undefined : status.currentModule,
    message: undefined,
  };
}

/** Whether two specs are the same for the store (which compares their JSON: key order aside). */
function sameSpec(a: ApplicationSpec, b: ApplicationSpec): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
}

/** How often a writer that lost the rollout claim looks for the winner's run. */
const CLAIM_POLL_MS = 200;

/** Largest module accepted at all; each target's profile may allow less. */
export const MAX_MODULE_BYTES = 1024 * 1024;

export class ApplicationService {
  constructor(
    private readonly store: ResourceStore,
    private readonly modules: ModuleStore,
    private readonly client: Client,
    /** How long another writer's rollout claim holds before it may be taken over. */
    private readonly claimLeaseMs = ROLLOUT_CLAIM_LEASE_MS,
  ) {}

  list(): Promise<Application[]> {
    return this.store.list('Application');
  }

  async get(name: string): Promise<Application> {
    const app = await this.store.get('Application', name);
    if (!app) throw new NotFoundError('Application', name);
    return app;
  }

  /**
   * Targeted devices that are still coming up (Pending or Provisioning, so no gateway session
   * yet): a rollout started now would fail them. Devices that are down for another reason do not
   * count: a rollout records them as Failed instead of waiting forever.
   */
  async devicesComingUp(name: string): Promise<string[]> {
    const { target } = (await this.get(name)).spec;
    return (await this.store.list('Device'))
      .filter(
        (d) =>
          targetsDevice(target, d) && (d.status.phase === 'Pending' || d.status.phase === 'Provisioning'),
      )
      .map((d) => d.metadata.name);
  }

  /** Stores a module by hash after checking it is WebAssembly an app may be. */
  async uploadModule(bytes: Uint8Array): Promise<{ sha256: string; size: number }> {
    this.check(bytes, '_start', 65536, 'module');
    return this.modules.put(bytes);
  }

  private check(bytes: Uint8Array, entry: string, memoryPages: number, field: string): void {
    if (bytes.length > MAX_MODULE_BYTES) {
      throw new UnprocessableError(
        field,
        `module is ${bytes.length} bytes; the limit is ${MAX_MODULE_BYTES}`,
      );
    }
    if (!WebAssembly.validate(new Uint8Array(bytes)))
      throw new UnprocessableError(field, 'module is not valid WebAssembly');
    const check = checkAppModule(bytes, { entry, memoryPages });
    if (!check.ok) throw new UnprocessableError(field, check.error);
  }

  /** Validates the body and the module (against the devices targeted now) and stores the module. */
  private async prepare(
    body: unknown,
    bytesOverride?: Uint8Array,
  ): Promise<{
    input: ApplicationCreateInput;
    module: { sha256: string; size: number };
  }> {
    const input = validateApplicationCreate(body);
    let bytes: Uint8Array;
    if (bytesOverride) {
      bytes = bytesOverride; // fetched by the caller (e.g. from a ConfigMap); moduleSha256 is theirs
    } else if ('base64' in input.module) {
      bytes = Buffer.from(input.module.base64, 'base64');
    } else {
      try {
        bytes = await this.modules.get(input.module.sha256);
      } catch (cause) {
        throw new UnprocessableError(
          'moduleSha256',
          `no uploaded module with sha256 ${input.module.sha256}`,
          {
            cause,
          },
        );
      }
    }
    this.check(bytes, input.entry, input.limits.memoryPages, 'wasm');
    // Against the devices targeted now; the rollout checks again when it starts.
    const targeted = (await this.store.list('Device')).filter((d) => targetsDevice(input.target, d));
    const misfit = moduleMisfit(bytes, input, targeted);
    if (misfit) throw new UnprocessableError('wasm', misfit);
    const tooLarge = deployMessageMisfit(bytes, input, targeted);
    if (tooLarge) throw new UnprocessableError('env', tooLarge);
    return { input, module: await this.modules.put(bytes) };
  }

  private specOf(input: ApplicationCreateInput, module: { sha256: string; size: number }): ApplicationSpec {
    const { name: _name, module: _ref, ...rest } = input;
    return { ...rest, module };
  }

  async create(body: unknown): Promise<{ name: string; workflowId: string }> {
    const { input, module } = await this.prepare(body);
    const { name } = input;
    await this.store.create('Application', name, this.specOf(input, module), {
      phase: 'Pending',
      devices: {},
      counts: { targeted: 0, running: 0, failed: 0, pending: 0 },
      resolvedModule: module,
    });
    try {
      return await this.startRollout(name, false);
    } catch (err) {
      await this.store.delete('Application', name);
      throw err;
    }
  }

  /**
   * A new version: the spec is replaced and rolled out; what ran before is kept as the
   * version a failing rollout goes back to. A rollout still in progress is replaced.
   */
  async update(name: string, body: unknown): Promise<{ name: string; workflowId: string }> {
    await this.get(name);
    const { input, module } = await this.prepare({ ...(body as object), name });
    const spec = this.specOf(input, module);
    // Read again after the (slow) checks, right before the write, so that a status written
    // meanwhile is carried over.
    const existing = await this.get(name);
    // The spec it already has (the version that just rolled back, tried again; an app started
    // again after a stop; a command sent twice) is no new generation. While that generation's
    // rollout runs (a canary waiting for promotion), it is the rollout asked for: its status
    // stays, instead of a Pending that hid the wait. Once it is over, this is a new run of the
    // same generation, whose claim was taken by the last one: before, within the claim's lease
    // the update started nothing and left the Application Pending for good.
    const unchanged = sameSpec(existing.spec, spec);
    if (
      unchanged &&
      (await runServes(this.client, deployWorkflowId(name), existing, { runningOnly: true }))
    ) {
      return { name, workflowId: deployWorkflowId(name) };
    }
    await this.store.upsert('Application', name, spec, {
      ...nextVersion(existing.status, existing.spec),
      resolvedModule: module,
    });
    return this.startRollout(name, true, unchanged);
  }

  /**
   * An Application whose spec was written straight into the store (a CR applied with kubectl):
   * its spec gets the same checks as a REST body, its module (`bytes` when the caller fetched
   * them, else the uploaded `spec.module.sha256`) is stored and recorded as `resolvedModule`,
   * and it rolls out like `create` the first time and like `update` afterwards.
   */
  async rollOutStored(name: string, bytes?: Uint8Array): Promise<{ workflowId: string; module: ModuleRef }> {
    const existing = await this.get(name);
    const { module: ref, ...rest } = existing.spec;
    const body = { ...rest, name, moduleSha256: bytes ? sha256Hex(bytes) : ref.sha256 };
    const { module } = await this.prepare(body, bytes);
    if (!bytes && ref.size !== undefined && ref.size !== module.size) {
      throw new ValidationError(
        'module.size',
        `module ${ref.sha256} is ${module.size} bytes, not ${ref.size}`,
      );
    }
    const first = existing.status.workflowId === undefined && !existing.status.currentModule;
    await this.store.updateStatus('Application', name, (s) => ({
      ...(first ? s : nextVersion(s)),
      phase: 'Pending',
      resolvedModule: module,
    }));
    const { workflowId } = await this.startRollout(name, !first);
    return { workflowId, module };
  }

  /**
   * Starts the rollout of the Application's current generation, once: a run already serving it
   * is kept, and of several writers that see the generation at once (the REST API, Kubernetes
   * controllers) only the one whose claim lands starts it (services/rollout-claim.ts). The
   * others wait until that run exists, or take the claim over when its lease ran out without one.
   */
  private async startRollout(
    name: string,
    replaceRunning: boolean,
    rerun = false,
  ): Promise<{ name: string; workflowId: string }> {
    const workflowId = deployWorkflowId(name);
    const holder = randomUUID();
    for (;;) {
      const app = await this.get(name);
      const generation = app.metadata.generation ?? 1;
      if (await runServes(this.client, workflowId, app, { runningOnly: true })) break;
      if (await this.claim(name, generation, holder, rerun)) {
        await this.start(app, workflowId, replaceRunning);
        break;
      }
      if (await this.awaitClaimedRun(name, generation, workflowId)) break;
    }
    await this.store.updateStatus('Application', name, (s) => ({ ...s, workflowId }));
    return { name, workflowId };
  }

  /**
   * Moves status.rolloutClaim to `generation` for `holder` if it may; whether it did. A `rerun`
   * (an update to the spec the Application has, no run of it in progress) takes over the
   * generation's claim at once: the run that claimed it is over.
   */
  private async claim(name: string, generation: number, holder: string, rerun: boolean): Promise<boolean> {
    const may = (claim: RolloutClaim | undefined) =>
      claimable(claim, generation, Date.now(), this.claimLeaseMs) ||
      (rerun && claim?.generation === generation);
    const current = await this.get(name);
    if (!may(current.status.rolloutClaim)) return false;
    // The check again inside the store's compare-and-swap: a concurrent claim makes this run again.
    const after = await this.store.updateStatus('Application', name, (s) =>
      may(s.rolloutClaim) ? { ...s, rolloutClaim: newClaim(generation, holder, Date.now()) } : s,
    );
    return after.status.rolloutClaim?.holder === holder;
  }

  /**
   * Another writer claimed `generation` (or a newer one): true once a run serving it exists,
   * false when the claim can be taken over (its lease ran out without a run).
   */
  private async awaitClaimedRun(name: string, generation: number, workflowId: string): Promise<boolean> {
    for (;;) {
      const app = await this.get(name);
      if (await runServes(this.client, workflowId, { metadata: { uid: app.metadata.uid, generation } })) {
        return true;
      }
      if (claimable(app.status.rolloutClaim, generation, Date.now(), this.claimLeaseMs)) return false;
      await new Promise((resolve) => setTimeout(resolve, CLAIM_POLL_MS));
    }
  }

  private async start(app: Application, workflowId: string, replaceRunning: boolean): Promise<void> {
    const name = app.metadata.name;
    try {
      await startWorkflow(this.client, deployApplicationWorkflow, {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId,
        args: [{ name }],
        workflowIdConflictPolicy: replaceRunning ? 'TERMINATE_EXISTING' : 'FAIL',
        memo: runMemo(app),
        typedSearchAttributes: [
          { key: APPLICATION_ATTRIBUTE, value: name },
          { key: PHASE_ATTRIBUTE, value: 'Deploying' },
        ],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) {
        throw workflowStartError(err);
      }
    }
  }

  /** A Canary paused after its first wave (or one that will pause: the rollout remembers it) goes on. */
  async promote(name: string): Promise<void> {
    await this.signalRollout(name, promoteSignal, 'promote');
  }

  /** Canary paused after its first wave: roll it back instead of promoting it. */
  async abort(name: string): Promise<void> {
    await this.signalRollout(name, abortSignal, 'abort');
  }

  /**
   * Signals the app's rollout. With none running (it finished, or was never started) the
   * Application is there but there is nothing to act on: a conflict with its state, not a
   * missing resource — the rollout is not something the API lets one create or name.
   */
  private async signalRollout(
    name: string,
    signal: typeof promoteSignal | typeof abortSignal,
    verb: 'promote' | 'abort',
  ): Promise<void> {
    await this.get(name);
    try {
      await workflowHandle(this.client, deployApplicationWorkflow, deployWorkflowId(name)).signal(signal);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      const phase = (await this.get(name)).status.phase ?? 'Pending';
      throw new ConflictError(`Application ${name} has no rollout in progress to ${verb} (it is ${phase})`);
    }
  }

  /** Stops the app on its devices and keeps the Application, Stopped. */
  async stop(name: string): Promise<{ name: string; workflowId: string }> {
    return this.undeploy(name, true);
  }

  async delete(name: string): Promise<{ name: string; workflowId: string }> {
    return this.undeploy(name, false);
  }

  private async undeploy(name: string, keep: boolean): Promise<{ name: string; workflowId: string }> {
    const app = await this.get(name);
    // A rollout in progress stops first, so it cannot redeploy what we remove; and a delete ends
    // a stop still running, which would otherwise go on recording Stopped on an Application that
    // is gone, retried for a minute until it failed.
    const superseded = keep ? [deployWorkflowId(name)] : [deployWorkflowId(name), stopWorkflowId(name)];
    await Promise.all(
      superseded.map((id) =>
        this.client.workflow
          .getHandle(id)
          .cancel()
          .catch(() => undefined),
      ),
    );
    const workflowId = keep ? stopWorkflowId(name) : undeployWorkflowId(name);
    try {
      await startWorkflow(this.client, undeployApplicationWorkflow, {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId,
        args: [{ name, keep }],
        memo: runMemo(app),
        typedSearchAttributes: [
          { key: APPLICATION_ATTRIBUTE, value: name },
          { key: PHASE_ATTRIBUTE, value: 'Stopped' },
        ],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    return { name, workflowId };
  }
}
