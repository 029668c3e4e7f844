/**
 * Orchestrator activities of claim-based enrollment (workflows/enroll-device.ts): check the
 * CSR and who owns the name, create or match the Device (runtime external), sign the board's
 * own public key, and record how it ended. Each is idempotent. Refusals are non-retryable
 * `EnrollmentRefused` failures whose message is the reason the board is told.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { DEFAULT_MCU_TYPE } from '../common/mcu-profiles.js';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../common/errors.js';
import { FailureType, toApplicationFailure } from '../common/failures.js';
import type { Logger } from '../common/logger.js';
import type {
  Condition,
  Device,
  DeviceEnrollment,
  DeviceIdentity,
  DeviceStatus,
} from '../common/resources.js';
import type { ClaimCredentials } from '../pki/claim-credentials.js';
import { verifyCsr } from '../pki/csr.js';
import type { DeviceCertificates } from '../pki/index.js';
import type { ResourceStore } from '../store/resource-store.js';
import { enrollWorkflowId, type EnrollmentRequestSignal } from '../workflows/contracts/index.js';

export interface EnrollmentDeps {
  store: ResourceStore;
  certificates: DeviceCertificates;
  claims: ClaimCredentials;
  caPem: string;
  logger: Logger;
}

export interface BegunEnrollment {
  /** Approved without an operator: pre-registered, or the same key enrolling again. */
  preauthorized: boolean;
}

export interface SignedEnrollment {
  certificatePem: string;
  caPem: string;
  identity: DeviceIdentity;
}

function refused(message: string, cause?: unknown): ApplicationFailure {
  return toApplicationFailure(cause, { type: FailureType.EnrollmentRefused, message });
}

function enrollmentOf(
  name: string,
  request: EnrollmentRequestSignal,
  state: DeviceEnrollment['state'],
): DeviceEnrollment {
  return {
    state,
    csrFingerprint: request.csrFingerprint,
    keyType: request.keyType,
    sourceAddress: request.sourceAddress,
    gateway: request.gateway,
    claim: request.claimId,
    requestedAt: request.requestedAt,
    workflowId: enrollWorkflowId(name),
  };
}

function withCondition(status: DeviceStatus, condition: Omit<Condition, 'lastTransitionTime'>): DeviceStatus {
  return {
    ...status,
    conditions: [
      ...status.conditions.filter((c) => c.type !== condition.type),
      { ...condition, lastTransitionTime: new Date().toISOString() },
    ],
  };
}

export function createEnrollmentActivities(deps: EnrollmentDeps) {
  const { store, certificates, claims, logger } = deps;

  /** The board's CSR, checked again here: the workflow may be started by anybody with access. */
  function csrOf(name: string, request: EnrollmentRequestSignal) {
    let csr;
    try {
      csr = verifyCsr(Buffer.from(request.csrBase64, 'base64'));
    } catch (err) {
      throw refused(err instanceof ValidationError ? err.message : String(err), err);
    }
    if (csr.commonName !== name) {
      throw refused(`csr asks for "${csr.commonName}" but this enrollment is for "${name}"`);
    }
    if (csr.spkiSha256 !== request.csrFingerprint) {
      throw refused('csr fingerprint does not match the request');
    }
    return csr;
  }

  return {
    /**
     * Validates the request and creates or matches the Device. Refuses a name that belongs to
     * another identity: a device the platform provisions itself, a board enrolled with another
     * key, or another key's pending request.
     */
    async beginEnrollment(name: string, request: EnrollmentRequestSignal): Promise<BegunEnrollment> {
      const csr = csrOf(name, request);
      let device: Device | undefined = await store.get('Device', name);
      if (!device) {
        try {
          await store.create(
            'Device',
            name,
            { mcuType: DEFAULT_MCU_TYPE, runtime: 'external', enrollment: 'approval', labels: {} },
            {
              phase: 'Pending',
              conditions: [],
              apps: {},
              message: 'awaiting operator approval',
              enrollment: enrollmentOf(name, request, 'AwaitingApproval'),
            },
            {},
          );
          logger.info('enrollment awaiting approval', { device: name, remote: request.sourceAddress });
          return { preauthorized: false };
        } catch (err) {
          if (!(err instanceof AlreadyExistsError)) throw err;
          device = (await store.get('Device', name))!;
        }
      }
      if (device.spec.runtime !== 'external') {
        throw refused(
          `device name "${name}" is owned by another identity: a ${device.spec.runtime} device run by the platform`,
        );
      }
      const active = await certificates.findActive(name);
      if (active && active.spkiSha256 !== csr.spkiSha256) {
        throw refused(
          `device name "${name}" is owned by another identity: it is enrolled with key ${active.spkiSha256.slice(0, 16)}…`,
        );
      }
      const preauthorized = Boolean(active) || device.spec.enrollment === 'preauthorized';
      // The pending request is checked in the same update that replaces it.
      await store.updateStatus('Device', name, (s) => {
        const pendingFingerprint = s.enrollment?.csrFingerprint;
        if (
          !active &&
          s.enrollment?.state === 'AwaitingApproval' &&
          pendingFingerprint &&
          pendingFingerprint !== csr.spkiSha256
        ) {
          throw refused(
            `device name "${name}" is being enrolled by another key (${pendingFingerprint.slice(0, 16)}…)`,
          );
        }
        return {
          ...s,
          phase: s.phase === 'Connected' ? s.phase : 'Pending',
          message: preauthorized ? 'approved; signing its certificate' : 'awaiting operator approval',
          enrollment: enrollmentOf(name, request, preauthorized ? 'Approved' : 'AwaitingApproval'),
        };
      });
      return { preauthorized };
    },

    /** An operator approved: recorded before the certificate is signed. */
    async approveEnrollment(name: string): Promise<void> {
      await store.updateStatus('Device', name, (s) => ({
        ...s,
        message: 'approved; signing its certificate',
        enrollment: { ...s.enrollment!, state: 'Approved', decidedAt: new Date().toISOString() },
      }));
    },

    /** Signs the board's own public key (idempotent: the same key keeps its certificate). */
    async signEnrollmentCertificate(
      name: string,
      request: EnrollmentRequestSignal,
    ): Promise<SignedEnrollment> {
      const csr = csrOf(name, request);
      const record = await certificates.issue(name, { publicKeyPem: csr.publicKeyPem });
      if (record.keyPem !== null)
        throw new Error(`certificate of ${name} unexpectedly carries a private key`);
      const identity = {
        certSerial: record.serial,
        spkiSha256: record.spkiSha256,
        notAfter: record.notAfter,
      };
      await store.updateStatus('Device', name, (s) => ({
        ...s,
        identity,
        message: 'certificate signed; delivering it',
      }));
      return { certificatePem: record.certPem, caPem: deps.caPem, identity };
    },

    /**
     * Records a rejection: the claim credential is spent, and a Device that only this
     * enrollment created (never enrolled) is removed again.
     */
    async rejectEnrollment(name: string, claimId: string, reason: string): Promise<void> {
      await claims.finish(claimId, 'rejected', reason);
      const device = await store.get('Device', name);
      if (!device) return;
      if (device.spec.enrollment === 'approval' && !(await certificates.findActive(name))) {
        await store.delete('Device', name);
        logger.info('enrollment rejected; removed the device it created', { device: name, reason });
        return;
      }
      await store.updateStatus('Device', name, (s) => ({
        ...s,
        message: `enrollment rejected: ${reason}`,
        enrollment: {
          ...(s.enrollment ?? { state: 'Rejected' }),
          state: 'Rejected',
          reason,
          decidedAt: new Date().toISOString(),
        },
      }));
    },

    /** Marks a claim credential spent by a refused request (another key, a taken name). */
    async refuseClaim(claimId: string, reason: string): Promise<void> {
      await claims.finish(claimId, 'rejected', reason);
    },

    /** The board is connected with its own certificate. */
    async completeEnrollment(
      name: string,
      claimId: string,
      gatewayName: string,
      identity: DeviceIdentity,
    ): Promise<void> {
      await claims.finish(claimId, 'enrolled');
      const endpoint = (await store.get('Gateway', gatewayName))?.spec.endpoint ?? '';
      await store.updateStatus('Device', name, (s) =>
        withCondition(
          {
            ...s,
            phase: 'Connected',
            identity,
            gateway: { name: gatewayName, endpoint },
            message: undefined,
            enrollment: { ...s.enrollment!, state: 'Enrolled' },
          },
          {
            type: 'Enrolled',
            status: 'True',
            reason: 'SessionEstablished',
            message: `connected to ${gatewayName}`,
          },
        ),
      );
    },

    /** Approved and signed, but the board did not pick up its certificate or come back with it. */
    async markEnrollmentIncomplete(name: string, message: string): Promise<void> {
      try {
        await store.updateStatus('Device', name, (s) => ({
          ...s,
          phase: s.phase === 'Connected' ? s.phase : 'Disconnected',
          message,
          enrollment: { ...s.enrollment!, state: 'Approved' },
        }));
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    },
  };
}

export type EnrollmentActivities = ReturnType<typeof createEnrollmentActivities>;
