/**
 * What devices report on their own: app logs and publishes go to the device log, app
 * state changes go to the Device's `status.apps` and the Application's per-device status.
 */
import { summarize, deviceState } from '../common/application-status.js';
import { NotFoundError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Envelope } from '../protocol/messages.js';
import { describePayload, type DeviceLogs } from '../store/device-logs.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { SessionInfo } from './session-registry.js';

export function createDeviceEventHandler(deps: { store: ResourceStore; logs: DeviceLogs; logger: Logger }) {
  const { store, logs, logger } = deps;
  /** Events are recorded in the background: the session that sent them does not wait. */
  const record = (work: Promise<unknown>) => {
    work.catch((err: unknown) => {
      if (!(err instanceof NotFoundError))
        logger.warn('recording a device event failed', { error: String(err) });
    });
  };

  return (session: SessionInfo, envelope: Envelope): void => {
    const body = envelope.body;
    const device = session.device;
    switch (body.type) {
      case 'Log':
        record(
          logs.append({
            device,
            time: new Date(body.timestampMs || Date.now()).toISOString(),
            appId: body.appId,
            kind: 'log',
            level: body.level,
            message: body.message,
          }),
        );
        return;
      case 'Publish':
        record(
          logs.append({
            device,
            time: new Date().toISOString(),
            appId: body.appId,
            kind: 'publish',
            level: 1,
            message: `${body.topic} ${describePayload(body.data)}`,
          }),
        );
        return;
      case 'ApplicationStatus':
        for (const app of body.apps) {
          const state = deviceState(app.state, app.error, app.restarts);
          record(
            store.updateStatus('Device', device, (s) => ({ ...s, apps: { ...s.apps, [app.appId]: state } })),
          );
          record(
            store.updateStatus('Application', app.appId, (s) =>
              s.devices[device] ? summarize({ ...s, devices: { ...s.devices, [device]: state } }) : s,
            ),
          );
        }
        return;
      default:
        logger.debug('unexpected message from device', { device, type: body.type });
    }
  };
}
