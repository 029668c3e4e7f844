/**
 * What devices report on their own: app logs and publishes go to the device log
 * (device-log-writes.ts), app state changes go to the Device's `status.apps` at once and to the
 * Application's per-device status gathered (status-writes.ts says why); all of it is kept
 * through a store outage.
 */
import { summarize, deviceState } from '../common/application-status.js';
import { withDeviceReport } from '../common/awaiting-rollout.js';
import { NotFoundError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { AppDeviceState } from '../common/resources.js';
import type { Envelope } from '../protocol/messages.js';
import { describePayload, type DeviceLogs } from '../store/device-logs.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { SessionInfo } from './session-registry.js';
import { deviceLogWrites } from './device-log-writes.js';
import { deviceStatusWrites, type DeviceStatusWrites } from './device-status-writes.js';
import { coalescedStatusWrites } from './status-writes.js';

/** How long app state changes are gathered before the Application is written. */
export const APP_STATUS_WRITE_DELAY_MS = 250;

export function createDeviceEventHandler(deps: {
  store: ResourceStore;
  logs: DeviceLogs;
  logger: Logger;
  appStatusDelayMs?: number;
  /** The gateway's writes of Device status (shared with its session writes: one order per device). */
  deviceStatus?: DeviceStatusWrites;
}) {
  const { store, logs, logger } = deps;
  const devices = deps.deviceStatus ?? deviceStatusWrites({ store, logger });
  /** Lines are appended in the background: the session that sent them does not wait. */
  const logLines = deviceLogWrites({ logs, logger });

  const applications = coalescedStatusWrites<AppDeviceState>({
    delayMs: deps.appStatusDelayMs ?? APP_STATUS_WRITE_DELAY_MS,
    write: (appId, states) =>
      store.updateStatus('Application', appId, (s) => {
        // Only devices the application runs on are recorded (a device may report an app deployed by hand).
        const changed = [...states]
          .filter(([device]) => s.devices[device])
          .map(([device, state]) => [device, withDeviceReport(s.devices[device], state)] as const);
        return changed.length === 0
          ? s
          : summarize({ ...s, devices: { ...s.devices, ...Object.fromEntries(changed) } });
      }),
    onError: (appId, err) => {
      if (!(err instanceof NotFoundError))
        logger.warn('recording app states failed', { application: appId, error: String(err) });
    },
    onCaughtUp: ({ written, unavailableMs }) =>
      logger.info('store back: application status writes caught up', { written, unavailableMs }),
  });

  const onMessage = (session: SessionInfo, envelope: Envelope): void => {
    const body = envelope.body;
    const device = session.device;
    switch (body.type) {
      case 'Log':
        logLines.append({
          device,
          time: new Date(body.timestampMs || Date.now()).toISOString(),
          appId: body.appId,
          kind: 'log',
          level: body.level,
          message: body.message,
        });
        return;
      case 'Publish':
        logLines.append({
          device,
          time: new Date().toISOString(),
          appId: body.appId,
          kind: 'publish',
          level: 1,
          message: `${body.topic} ${describePayload(body.data)}`,
        });
        return;
      case 'ApplicationStatus':
        for (const app of body.apps) {
          const state = deviceState(app.state, app.error, app.restarts);
          // In the order reported: a later state must not be overwritten by an earlier one.
          devices.change(device, `app:${app.appId}`, (s) => ({
            ...s,
            apps: { ...s.apps, [app.appId]: state },
          }));
          applications.change(app.appId, device, state);
        }
        return;
      default:
        logger.debug('unexpected message from device', { device, type: body.type });
    }
  };
  return Object.assign(onMessage, {
    /** The Application writes (their pending count is the gateway's gauge). */
    applications,
    /** The device log's appends (lines kept through an outage, and dropped). */
    logLines,
    /**
     * Writes the app states still gathered (call before the store closes), and the Device writes
     * when they are this handler's own, then the log lines kept (which report their own loss), until
     * `deadline`; resolves with the resources whose status was left unwritten.
     */
    flush: async (deadline: number) => {
      const unwritten = {
        Application: await applications.flush(deadline),
        Device: deps.deviceStatus ? [] : await devices.flush(deadline),
      };
      await logLines.flush(deadline);
      return unwritten;
    },
  });
}
