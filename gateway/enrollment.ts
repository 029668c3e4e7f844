/**
 * The gateway's side of claim-based enrollment. A claim session's EnrollmentRequest is checked
 * here first (the CSR parses and verifies, the claim credential binds to the requested name and
 * key, atomically), then handed to the `enroll-<name>` workflow by signal-with-start. The
 * connection stays open in `pending`; the workflow answers it through this gateway's
 * answerEnrollment activity (gateway/activities.ts), on this gateway's task queue.
 */
import crypto from 'node:crypto';
import type { Client } from '@temporalio/client';
import { ORCHESTRATOR_TASK_QUEUE } from '../common/config.js';
import { errorMessage, ValidationError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { validateDnsLabel } from '../common/validation.js';
import { ClaimRefusedError, type ClaimCredentials } from '../pki/claim-credentials.js';
import { verifyCsr } from '../pki/csr.js';
import type { EnrollmentRequest } from '../protocol/messages.js';
import { DEVICE_ATTRIBUTE, PHASE_ATTRIBUTE } from '../temporal/search-attributes.js';
import { signalWithStart } from '../temporal/workflow-calls.js';
import {
  enrollDeviceWorkflow,
  enrollmentRequestSignal,
  enrollWorkflowId,
  type EnrollDeviceInput,
  type EnrollmentRequestSignal,
} from '../workflows/contracts/index.js';
import type { DeviceServerEnrollment, EnrollmentConnection } from './enrollment-session.js';

export interface EnrollmentHandlerDeps {
  claims: ClaimCredentials;
  claimCaPem: string;
  client: Client;
  gatewayName: string;
  taskQueue: string;
  approvalTimeoutMs: number;
  reconnectTimeoutMs: number;
  /** How long a request is held open (the protocol's 10-minute reply timeout, plus a margin). */
  holdMs?: number;
  logger: Logger;
}

export interface GatewayEnrollment extends DeviceServerEnrollment {
  /** Requests held open, by connection id, until the workflow answers them. */
  readonly pending: Map<string, EnrollmentConnection>;
}

export function createGatewayEnrollment(deps: EnrollmentHandlerDeps): GatewayEnrollment {
  const { claims, logger } = deps;
  const pending = new Map<string, EnrollmentConnection>();
  const sweep = setInterval(() => {
    for (const [id, connection] of pending) if (!connection.isOpen) pending.delete(id);
  }, 60_000);
  sweep.unref();

  const reject = (connection: EnrollmentConnection, reason: string) => {
    logger.warn('enrollment refused', { remote: connection.remoteAddress, reason });
    connection.answer({ type: 'EnrollmentRejected', reason });
  };

  return {
    pending,
    claimCaPem: deps.claimCaPem,
    holdMs: deps.holdMs ?? 11 * 60_000,
    isUsableClaimCertificate: (serial) => claims.isUsableCertificate(serial),
    async onRequest(connection: EnrollmentConnection, request: EnrollmentRequest) {
      let csr;
      let name: string;
      try {
        csr = verifyCsr(request.csrDer);
        name = validateDnsLabel('csr subject CN', csr.commonName);
      } catch (err) {
        return reject(
          connection,
          err instanceof ValidationError ? err.message : `bad CSR: ${errorMessage(err)}`,
        );
      }
      let claimId: string;
      try {
        const presented = connection.claimCertificate
          ? ({ kind: 'certificate', serial: connection.claimCertificate.serial } as const)
          : ({ kind: 'token', token: request.claimToken ?? '' } as const);
        claimId = (await claims.claim(presented, name, csr.spkiSha256)).id;
      } catch (err) {
        if (err instanceof ClaimRefusedError) return reject(connection, err.message);
        throw err;
      }
      pending.set(connection.id, connection);
      const signal: EnrollmentRequestSignal = {
        gateway: deps.gatewayName,
        taskQueue: deps.taskQueue,
        connectionId: connection.id,
        csrBase64: Buffer.from(request.csrDer).toString('base64'),
        csrFingerprint: csr.spkiSha256,
        keyType: csr.keyDescription,
        sourceAddress: connection.remoteAddress,
        claimId,
        requestedAt: new Date().toISOString(),
      };
      const input: EnrollDeviceInput = {
        name,
        approvalTimeoutMs: deps.approvalTimeoutMs,
        reconnectTimeoutMs: deps.reconnectTimeoutMs,
      };
      logger.info('enrollment request', { device: name, claim: claimId, remote: connection.remoteAddress });
      signalWithStart(deps.client, enrollDeviceWorkflow, {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId: enrollWorkflowId(name),
        args: [input],
        signal: enrollmentRequestSignal,
        signalArgs: [signal],
        typedSearchAttributes: [
          { key: DEVICE_ATTRIBUTE, value: name },
          { key: PHASE_ATTRIBUTE, value: 'Pending' },
        ],
      }).catch((err: unknown) => {
        pending.delete(connection.id);
        logger.error('could not start enrollment workflow', { device: name, error: String(err) });
        reject(connection, 'the platform could not take the request now; try again later');
      });
    },
  };
}

/** DER of a PEM certificate, for EnrollmentAccepted. */
export function certificateDer(pem: string): Uint8Array {
  return new Uint8Array(new crypto.X509Certificate(pem).raw);
}
