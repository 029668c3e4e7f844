/**
 * Leader election on a coordination.k8s.io/v1 Lease, the same protocol client-go uses: the
 * holder renews `renewTime` every `renewMs`; anyone may take the lease over once
 * `renewTime + leaseDurationSeconds` has passed. Every write carries the Lease's
 * resourceVersion, so two candidates racing for it cannot both win (one gets 409 Conflict).
 * A leader that cannot renew before its lease runs out calls `onLost` and must stop acting.
 */
import { ApiException, CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../common/logger.js';
import { errorMessage } from '../common/errors.js';

export interface LeaderElectionOptions {
  kc: KubeConfig;
  namespace: string;
  leaseName: string;
  identity: string;
  leaseDurationSeconds: number;
  renewMs: number;
  logger: Logger;
}

/** RFC 3339 with microseconds: the MicroTime format the API server parses. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private lastRenew = 0;
  leading = false;

  constructor(private readonly options: LeaderElectionOptions) {
    this.api = options.kc.makeApiClient(CoordinationV1Api);
  }

  /** Resolves once this candidate leads; then keeps renewing and calls onLost if that fails. */
  async acquire(onLost: () => void): Promise<void> {
    const { logger, leaseName, identity } = this.options;
    let waitingLogged = false;
    while (!this.stopped) {
      if (await this.tryAcquireOrRenew()) break;
      if (!waitingLogged) {
        logger.info('waiting for leadership', { lease: leaseName, identity });
        waitingLogged = true;
      }
      await new Promise((r) => setTimeout(r, this.options.renewMs));
    }
    if (this.stopped) return;
    this.leading = true;
    logger.info('became leader', { lease: leaseName, identity });
    const renew = async () => {
      if (this.stopped) return;
      const ok = await this.tryAcquireOrRenew();
      if (!ok && Date.now() - this.lastRenew > this.options.leaseDurationSeconds * 1000) {
        this.leading = false;
        logger.error('lost leadership', { lease: leaseName, identity });
        onLost();
        return;
      }
      this.timer = setTimeout(() => void renew(), this.options.renewMs);
    };
    this.timer = setTimeout(() => void renew(), this.options.renewMs);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, leaseName: name, identity, leaseDurationSeconds } = this.options;
    const now = new Date();
    try {
      let lease: V1Lease;
      try {
        lease = await this.api.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (!(err instanceof ApiException) || err.code !== 404) throw err;
        await this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds,
              acquireTime: microTime(now) as unknown as Date,
              renewTime: microTime(now) as unknown as Date,
              leaseTransitions: 0,
            },
          },
        });
        this.lastRenew = now.getTime();
        return true;
      }
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity;
      const renewed = spec.renewTime ? new Date(spec.renewTime as unknown as string).getTime() : 0;
      const duration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
      if (holder && holder !== identity && renewed + duration > now.getTime()) return false;
      const mine = holder === identity;
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds,
            acquireTime: (mine ? spec.acquireTime : microTime(now)) as unknown as Date,
            renewTime: microTime(now) as unknown as Date,
            leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
          },
        },
      });
      this.lastRenew = now.getTime();
      return true;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409)) {
        this.options.logger.warn('lease update failed', {
          lease: name,
          error: errorMessage(err),
        });
      }
      return false;
    }
  }

  /** Stops renewing and, if leading, hands the lease back so a successor need not wait it out. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    const { namespace, leaseName: name, identity } = this.options;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: undefined,
            leaseDurationSeconds: 1,
            renewTime: microTime(new Date(0)) as unknown as Date,
            acquireTime: lease.spec.acquireTime,
          },
        },
      });
    } catch {
      /* the lease simply expires */
    }
  }
}
