/**
 * The gateway's writes of Device status: its session writes (session-status.ts) and the app states
 * devices report (device-events.ts) share one writer, so a device's writes go one at a time, in
 * order, and are kept through a store outage (status-writes.ts).
 */
import { NotFoundError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { DeviceStatus } from '../common/resources.js';
import type { ResourceStore } from '../store/resource-store.js';
import { coalescedStatusWrites, type StatusWrites } from './status-writes.js';

export type DeviceStatusMutation = (status: DeviceStatus) => DeviceStatus;
export type DeviceStatusWrites = StatusWrites<DeviceStatusMutation>;

export function deviceStatusWrites(deps: {
  store: ResourceStore;
  logger: Logger;
  retryMs?: { first: number; max: number };
}): DeviceStatusWrites {
  const { store, logger } = deps;
  return coalescedStatusWrites<DeviceStatusMutation>({
    delayMs: 0,
    retryMs: deps.retryMs,
    write: (device, changes) =>
      store.updateStatus('Device', device, (status) =>
        [...changes.values()].reduce((s, mutate) => mutate(s), status),
      ),
    // A device deleted meanwhile stays deleted: its changes go with it.
    onError: (device, err) => {
      if (!(err instanceof NotFoundError))
        logger.warn('device status update failed', { device, error: String(err) });
    },
    onCaughtUp: ({ written, unavailableMs }) =>
      logger.info('store back: device status writes caught up', { written, unavailableMs }),
  });
}
