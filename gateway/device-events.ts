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
  const ignoreMissing = (work: () => void) => {
    try {
      work();
    } catch (err) {
      if (!(err instanceof NotFoundError))
        logger.warn('recording a device event failed', { error: String(err) });
    }
  };

  return (session: SessionInfo, envelope: Envelope): void => {
    const body = envelope.body;
    const device = session.device;
    switch (body.type) {
      case 'Log':
        logs.append({
          device,
          time: new Date(body.timestampMs || Date.now()).toISOString(),
          appId: body.appId,
          kind: 'log',
          level: body.level,
          message: body.message,
        });
        return;
      case 'Publish':
        logs.append({
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
          ignoreMissing(() =>
            store.updateStatus('Device', device, (s) => ({ ...s, apps: { ...s.apps, [app.appId]: state } })),
          );
          ignoreMissing(() =>
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
