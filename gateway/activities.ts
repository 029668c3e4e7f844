/**
 * Activities that need a live device session; they run on the gateway's own task queue
 * (`wasmbed-gateway-<name>`), so Temporal routes each call to the gateway that holds it.
 * Each heartbeats while it waits and stops waiting when Temporal cancels it.
 */
import { setMaxListeners } from 'node:events';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { FailureType, toApplicationFailure } from '../common/failures.js';
import { RequestError } from '../protocol/connection.js';
import {
  deployApplicationMessage,
  largestEnvelopeSize,
  type AppStatusEntry,
  type DeviceInfo,
  type Message,
  type MessageType,
} from '../protocol/messages.js';
import type { ModuleStore } from '../store/module-store.js';
import { deployMisfit } from './deploy-fit.js';
import { mapInLanes } from '../common/lanes.js';
import { serialHex } from '../pki/certificate-info.js';
import { whileHeartbeating } from '../temporal/activity-heartbeat.js';
import type { SessionHandle, SessionInfo, SessionRegistry } from './session-registry.js';
import { certificateDer, type GatewayEnrollment } from './enrollment.js';

/** What the enrollDevice workflow tells a board waiting on this gateway. */
export type EnrollmentAnswer =
  | { connectionId: string; accepted: { certificatePem: string; caPem: string } }
  | { connectionId: string; rejected: string };

export interface AwaitSessionInput {
  device: string;
  /** Only a session made with this certificate counts (not one with an older certificate). */
  certSerial?: string;
}

export interface AwaitSessionResult {
  device: string;
  certSerial: string;
  spkiSha256: string;
  connectedAt: string;
  gateway: string;
}

export interface DeployInput {
  device: string;
  appId: string;
  name: string;
  /** sha256 of the module in the module store. */
  moduleSha256: string;
  entry: string;
  limits: { memoryPages: number; cpuMsPerCall: number | null };
  env?: Record<string, string>;
  args?: string[];
  timeoutMs?: number;
}

export interface AckResult {
  ok: boolean;
  error: string | null;
}

/** One app for many devices of this gateway (a rollout's batch): everything but the device. */
export type DeployManyInput = Omit<DeployInput, 'device'> & {
  devices: string[];
  /** How long a device without a session here may take to come back (it may be reconnecting). */
  sessionWaitMs?: number;
};

/** One device's answer in a batch; `reached`: it answered (ok or refused), so it may run the app. */
export interface BatchAck extends AckResult {
  device: string;
  reached: boolean;
}

/** One device's app status in a batch, or why it could not be asked. */
export interface BatchStatus {
  device: string;
  apps: AppStatusEntry[] | null;
  error: string | null;
}

const HEARTBEAT_EVERY_MS = 1000;
/**
 * Deploys of one batch in flight at once. A device acks once its app runs, and starting an app
 * costs its host tens of ms of CPU (a worker thread each, started a few at a time): with every
 * device of every batch asked at once, the acks at the end of a 500-device host's queue came
 * after the 30 s the gateway waits for one, and the rollout counted them as failures.
 */
const DEPLOYS_AT_ONCE_PER_BATCH = 32;
/** As long as a single deploy's retries gave a reconnecting device (workflows/deploy-application.ts). */
const BATCH_SESSION_WAIT_MS = 40_000;

export function createGatewayActivities(deps: {
  gatewayName: string;
  registry: SessionRegistry;
  modules: ModuleStore;
  /** Held EnrollmentRequests (claim-based enrollment); absent: this gateway does not enroll. */
  enrollment?: GatewayEnrollment;
}) {
  const { registry } = deps;

  function sessionOf(device: string): SessionHandle {
    const session = registry.get(device);
    if (!session) {
      // Retryable: the device may be reconnecting, possibly to this gateway.
      throw ApplicationFailure.retryable(
        `device ${device} has no session on gateway ${deps.gatewayName}`,
        FailureType.DeviceNotConnected,
      );
    }
    return session;
  }

  const sessionResult = (info: SessionInfo): AwaitSessionResult => ({
    device: info.device,
    certSerial: info.certSerial,
    spkiSha256: info.spkiSha256,
    connectedAt: info.connectedAt.toISOString(),
    gateway: deps.gatewayName,
  });

  /** Sends a request, heartbeating until the reply; Temporal cancellation aborts the wait. */
  async function request<T extends MessageType>(
    device: string,
    body: Message,
    expected: T,
    timeoutMs?: number,
  ): Promise<Extract<Message, { type: T }>> {
    const context = Context.current();
    const session = sessionOf(device);
    try {
      const reply = await whileHeartbeating(
        () => session.request(body, { timeoutMs, signal: context.cancellationSignal }),
        () => ({ device, waitingFor: expected }),
        HEARTBEAT_EVERY_MS,
      );
      if (reply.type !== expected)
        throw new RequestError('UnexpectedReply', `${device} answered ${reply.type}, expected ${expected}`);
      return reply as Extract<Message, { type: T }>;
    } catch (err) {
      if (err instanceof RequestError) {
        if (err.reason === 'Cancelled') throw err;
        // A device that does not answer in time will not answer a blind resend either;
        // the workflow decides whether to try again.
        throw toApplicationFailure(err, {
          nonRetryable: err.reason === 'Timeout' || err.reason === 'UnexpectedReply',
        });
      }
      throw err;
    }
  }

  /** The device's session, waiting up to `waitMs` for one (a device may be reconnecting). */
  async function sessionWithin(device: string, waitMs: number, signal: AbortSignal): Promise<SessionHandle> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const session = registry.get(device);
      if (session || Date.now() >= deadline || signal.aborted) return sessionOf(device);
      await new Promise<void>((resolve) => {
        const onUp = (up: SessionHandle) => {
          if (up.info.device === device) done();
        };
        const timer = setTimeout(done, Math.min(HEARTBEAT_EVERY_MS, Math.max(1, deadline - Date.now())));
        function done() {
          clearTimeout(timer);
          registry.off('up', onUp);
          resolve();
        }
        registry.on('up', onUp);
      });
    }
  }

  /**
   * Runs `each` for every device, `atOnce` at a time (all by default), heartbeating once for all
   * of them.
   */
  async function forEachDevice<R>(
    devices: string[],
    each: (device: string) => Promise<R>,
    atOnce = devices.length,
  ): Promise<R[]> {
    const context = Context.current();
    // Every request in flight listens on the activity's one cancellation signal and takes its
    // listener off when it ends: `atOnce` of them at a time is no leak, and Node's warning of one
    // past 10 ("MaxListenersExceededWarning") only alarmed whoever read the gateway's log.
    setMaxListeners(Math.min(atOnce, devices.length) + 10, context.cancellationSignal);
    let done = 0;
    return whileHeartbeating(
      () => mapInLanes(devices, atOnce, (device) => each(device).finally(() => done++)),
      () => ({ devices: devices.length, done }),
      HEARTBEAT_EVERY_MS,
    );
  }

  /** The message of a failure of one device in a batch; a cancellation ends the whole batch. */
  function failureOf(err: unknown): string {
    if (err instanceof RequestError && err.reason === 'Cancelled') throw err;
    return err instanceof Error ? err.message : String(err);
  }

  return {
    /**
     * A rollout's batch: the app to many devices of this gateway in one activity (a thousand
     * single-device activities were a thousand tasks through the Temporal server). Each
     * device's answer comes back on its own; a device without a session gets the same time to
     * come back as a single deploy's retries gave it.
     */
    async deployApplicationToMany(input: DeployManyInput): Promise<BatchAck[]> {
      const { devices, sessionWaitMs, timeoutMs, ...app } = input;
      const context = Context.current();
      const message = deployApplicationMessage(app, await deps.modules.get(app.moduleSha256));
      const messageBytes = largestEnvelopeSize(message);
      const waitMs = sessionWaitMs ?? BATCH_SESSION_WAIT_MS;
      return forEachDevice(
        devices,
        async (device): Promise<BatchAck> => {
          const deadline = Date.now() + waitMs;
          // As a single deploy's retries did: a device without a session, or whose session broke
          // mid-request, gets until the deadline to come back; a timeout or a refusal is final.
          for (;;) {
            let session: SessionHandle;
            try {
              session = await sessionWithin(device, deadline - Date.now(), context.cancellationSignal);
            } catch (err) {
              return { device, ok: false, error: failureOf(err), reached: false };
            }
            const misfit = deployMisfit(session.info, message, messageBytes);
            if (misfit) return { device, ok: false, error: misfit, reached: false };
            try {
              const ack = await session.request(message, { timeoutMs, signal: context.cancellationSignal });
              if (ack.type !== 'DeployAck')
                return { device, ok: false, error: `${device} answered ${ack.type}`, reached: true };
              return { device, ok: ack.ok, error: ack.error, reached: true };
            } catch (err) {
              const error = failureOf(err);
              const sessionBroke = err instanceof RequestError && err.reason === 'SessionClosed';
              if (!sessionBroke || Date.now() >= deadline)
                return { device, ok: false, error, reached: false };
              await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_EVERY_MS));
            }
          }
        },
        DEPLOYS_AT_ONCE_PER_BATCH,
      );
    },

    /** A rollout's health check for a batch: each device's status of the app, or why not. */
    async queryApplicationStatusOfMany(input: {
      devices: string[];
      appId: string;
      timeoutMs?: number;
    }): Promise<BatchStatus[]> {
      const context = Context.current();
      return forEachDevice(input.devices, async (device): Promise<BatchStatus> => {
        try {
          const reply = await sessionOf(device).request(
            { type: 'RequestApplicationStatus', appId: input.appId },
            { timeoutMs: input.timeoutMs, signal: context.cancellationSignal },
          );
          if (reply.type !== 'ApplicationStatus')
            return { device, apps: null, error: `${device} answered ${reply.type}` };
          return { device, apps: reply.apps, error: null };
        } catch (err) {
          return { device, apps: null, error: failureOf(err) };
        }
      });
    },

    /** Resolves when the device has a session here. */
    async awaitDeviceSession(input: AwaitSessionInput): Promise<AwaitSessionResult> {
      const context = Context.current();
      // (A workflow recorded before sessions spelled serials as the ledger does may pass another.)
      const wanted = input.certSerial ? serialHex(input.certSerial) : undefined;
      for (;;) {
        const session = registry.get(input.device);
        if (session && (!wanted || session.info.certSerial === wanted)) return sessionResult(session.info);
        context.heartbeat({ waitingFor: input.device, hasSession: Boolean(session) });
        // Wake on the next session or after a beat, whichever comes first; sleep() throws on cancel.
        await Promise.race([
          new Promise<void>((resolve) => {
            const onUp = () => resolve();
            registry.once('up', onUp);
            setTimeout(() => registry.off('up', onUp), HEARTBEAT_EVERY_MS);
          }),
          context.sleep(HEARTBEAT_EVERY_MS),
        ]);
      }
    },

    async deployApplication(input: DeployInput): Promise<AckResult> {
      const message = deployApplicationMessage(input, await deps.modules.get(input.moduleSha256));
      const misfit = deployMisfit(sessionOf(input.device).info, message, largestEnvelopeSize(message));
      if (misfit) return { ok: false, error: misfit };
      const ack = await request(input.device, message, 'DeployAck', input.timeoutMs);
      return { ok: ack.ok, error: ack.error };
    },

    /**
     * Answers a held EnrollmentRequest over its still-open connection. Non-retryable
     * `EnrollmentConnectionGone` when the board is no longer waiting here: the workflow then
     * waits for the board to ask again (it re-sends the same CSR after its own timeout).
     */
    async answerEnrollment(input: EnrollmentAnswer): Promise<void> {
      const connection = deps.enrollment?.pending.get(input.connectionId);
      const body =
        'accepted' in input
          ? {
              type: 'EnrollmentAccepted' as const,
              certificateDer: certificateDer(input.accepted.certificatePem),
              caCertificateDer: certificateDer(input.accepted.caPem),
            }
          : { type: 'EnrollmentRejected' as const, reason: input.rejected };
      if (!connection?.answer(body)) {
        deps.enrollment?.pending.delete(input.connectionId);
        throw ApplicationFailure.nonRetryable(
          `enrollment connection ${input.connectionId} is no longer open on gateway ${deps.gatewayName}`,
          FailureType.EnrollmentConnectionGone,
        );
      }
      deps.enrollment?.pending.delete(input.connectionId);
    },

    /**
     * The device's session here, if it has one. The lifecycle asks before it recovers a device
     * whose gateway looks silent in the store: the store's view (the gateway's lastSeen, the
     * device's lastHeartbeat) is only as fresh as this gateway's last write, and a gateway whose
     * writes lag (a slow or briefly unreachable store, a paused process) still holds its
     * sessions. (The gateway closes a session silent past its heartbeat timeout itself, so one
     * held here is live.)
     */
    async currentSession(input: { device: string }): Promise<AwaitSessionResult | null> {
      const session = registry.get(input.device);
      return session ? sessionResult(session.info) : null;
    },

    /** Closes the device's session here (it reconnects, e.g. with a rotated certificate). */
    async closeSession(input: { device: string; reason: string }): Promise<boolean> {
      const session = registry.get(input.device);
      session?.close(input.reason);
      return Boolean(session);
    },

    async stopApplication(input: { device: string; appId: string; timeoutMs?: number }): Promise<AckResult> {
      const ack = await request(
        input.device,
        { type: 'StopApplication', appId: input.appId },
        'StopAck',
        input.timeoutMs,
      );
      return { ok: ack.ok, error: ack.error };
    },

    async queryDeviceInfo(input: { device: string; timeoutMs?: number }): Promise<Omit<DeviceInfo, 'type'>> {
      const { type: _type, ...info } = await request(
        input.device,
        { type: 'RequestDeviceInfo' },
        'DeviceInfo',
        input.timeoutMs,
      );
      return info;
    },

    async queryApplicationStatus(input: {
      device: string;
      appId?: string;
      timeoutMs?: number;
    }): Promise<AppStatusEntry[]> {
      const reply = await request(
        input.device,
        { type: 'RequestApplicationStatus', appId: input.appId ?? null },
        'ApplicationStatus',
        input.timeoutMs,
      );
      return reply.apps;
    },
  };
}

export type GatewayActivities = ReturnType<typeof createGatewayActivities>;
