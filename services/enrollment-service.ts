/**
 * Enrollment operations behind the REST API, the CLI and the dashboard: claim credentials
 * (tokens and claim certificates) and the pending enrollments an operator approves or rejects.
 * A pending enrollment is a Device whose status.enrollment.state is AwaitingApproval; the
 * decision is a signal to its `enroll-<name>` workflow.
 */
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ConflictError, NotFoundError, ValidationError, WasmbedError } from '../common/errors.js';
import type { Device } from '../common/resources.js';
import { MAX_REJECT_REASON } from '../common/schemas.js';
import type { ClaimCredential, ClaimCredentials } from '../pki/claim-credentials.js';
import type { ResourceStore } from '../store/resource-store.js';
import { workflowHandle } from '../temporal/workflow-calls.js';
import {
  approveSignal,
  enrollDeviceWorkflow,
  enrollWorkflowId,
  rejectSignal,
  type EnrollDeviceWorkflow,
} from '../workflows/contracts/index.js';

export interface PendingEnrollment {
  name: string;
  csrFingerprint: string;
  keyType: string | null;
  sourceAddress: string | null;
  gateway: string | null;
  claim: string | null;
  requestedAt: string | null;
  ageSeconds: number;
  workflowId: string;
}

export class EnrollmentService {
  constructor(
    private readonly store: ResourceStore,
    private readonly claims: ClaimCredentials,
    private readonly client: Client,
    /** The CA devices must trust (GET /api/v1/pki/ca.pem). */
    readonly caPem: string,
  ) {}

  async listPending(now = Date.now()): Promise<PendingEnrollment[]> {
    return (await this.store.list('Device'))
      .filter((d) => d.status.enrollment?.state === 'AwaitingApproval')
      .map((d) => toPending(d, now))
      .sort((a, b) => (a.requestedAt ?? '').localeCompare(b.requestedAt ?? ''));
  }

  async approve(name: string): Promise<{ name: string; workflowId: string }> {
    return this.decide(name, (handle) => handle.signal(approveSignal));
  }

  async reject(name: string, reason?: unknown): Promise<{ name: string; workflowId: string }> {
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_REJECT_REASON)) {
      throw new ValidationError(
        'reason',
        `reason must be a string of at most ${MAX_REJECT_REASON} characters`,
      );
    }
    return this.decide(name, (handle) =>
      handle.signal(rejectSignal, { reason: reason?.trim() || undefined }),
    );
  }

  createToken(body: unknown) {
    const input = (body ?? {}) as { name?: unknown; ttl?: unknown };
    return this.claims.createToken({ name: input.name, ttl: input.ttl });
  }

  createClaimCertificate(body: unknown) {
    const input = (body ?? {}) as { name?: unknown; ttl?: unknown };
    return this.claims.createClaimCertificate({ name: input.name, ttl: input.ttl });
  }

  listCredentials(): Promise<ClaimCredential[]> {
    return this.claims.list();
  }

  revokeCredential(id: string): Promise<ClaimCredential> {
    return this.claims.revoke(id);
  }

  private async decide(
    name: string,
    signal: (handle: WorkflowHandle<EnrollDeviceWorkflow>) => Promise<void>,
  ) {
    const device = await this.store.get('Device', name);
    if (!device || !device.status.enrollment) throw new NotFoundError('Enrollment', name);
    if (device.status.enrollment.state !== 'AwaitingApproval') {
      throw new ConflictError(
        `enrollment of "${name}" is ${device.status.enrollment.state}, not awaiting approval`,
      );
    }
    const workflowId = enrollWorkflowId(name);
    try {
      await signal(workflowHandle(this.client, enrollDeviceWorkflow, workflowId));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        throw new ConflictError(`enrollment of "${name}" has no running workflow ${workflowId}`);
      }
      throw new WasmbedError('TemporalUnavailable', `could not signal ${workflowId}: ${String(err)}`, {
        cause: err,
      });
    }
    return { name, workflowId };
  }
}

function toPending(d: Device, now: number): PendingEnrollment {
  const e = d.status.enrollment!;
  const requested = e.requestedAt ? Date.parse(e.requestedAt) : now;
  return {
    name: d.metadata.name,
    csrFingerprint: e.csrFingerprint ?? '',
    keyType: e.keyType ?? null,
    sourceAddress: e.sourceAddress ?? null,
    gateway: e.gateway ?? null,
    claim: e.claim ?? null,
    requestedAt: e.requestedAt ?? null,
    ageSeconds: Math.max(0, Math.round((now - requested) / 1000)),
    workflowId: e.workflowId ?? enrollWorkflowId(d.metadata.name),
  };
}
