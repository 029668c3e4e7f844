/**
 * The device side of a session (device/device-link.ts) against a real DeviceServer over real
 * TLS: what a device says before its handshake has finished goes out after its Hello. A device
 * whose app changed state while it dialled (a device host restarting hundreds of devices with
 * their apps) used to have that ApplicationStatus queued ahead of the Hello, and the gateway
 * closed the session for talking first.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DeviceLink } from '../device/device-link.js';
import { Fleet } from '../device/fleet.js';
import type { Message } from '../protocol/messages.js';
import { startInProcessGateway } from './support/in-process-gateway.js';
import { testDeviceInfo } from './support/protocol-helpers.js';
import { waitFor } from './support/wait.js';

const received: { device: string; body: Message }[] = [];
let gateway: Awaited<ReturnType<typeof startInProcessGateway>>;

beforeAll(async () => {
  gateway = await startInProcessGateway({}, 500, (session, envelope) =>
    received.push({ device: session.device, body: envelope.body }),
  );
});
afterAll(async () => {
  await gateway?.stop();
});

it('sends what the device said while dialling after its Hello, and keeps the session', async () => {
  const fleet = new Fleet({ home: gateway.home, endpoint: gateway.endpoint, prefix: 'early', count: 1 });
  await fleet.prepare();
  const credentials = (
    fleet as unknown as { credentials: { certPem: string; keyPem: string; caPem: string }[] }
  ).credentials[0]!;
  const link = new DeviceLink({
    endpoint: gateway.endpoint,
    credentials,
    deviceInfo: testDeviceInfo,
  });
  let closed = false;
  void link.closed.then(() => (closed = true));
  try {
    // At once, before the handshake: an app's state change and its log line.
    link.send({
      type: 'ApplicationStatus',
      apps: [{ appId: 'a', state: 'Running', error: null, restarts: 0 }],
    });
    link.send({ type: 'Log', appId: 'a', level: 1, message: 'hello', timestampMs: Date.now() });
    await waitFor(
      'both messages at the gateway',
      () => received.filter((r) => r.device === 'early-0').length === 2,
    );
    expect(received.map((r) => r.body.type)).toEqual(['ApplicationStatus', 'Log']);
    // The session stays: it still answers heartbeats well after the gateway read those messages.
    await new Promise((r) => setTimeout(r, 700));
    expect(closed).toBe(false);
    expect(gateway.registry.get('early-0')).toBeDefined();
    const reply = await link.connection.request({ type: 'Heartbeat', uptimeMs: 1 }, { timeoutMs: 2000 });
    expect(reply.type).toBe('HeartbeatAck');
  } finally {
    link.close();
  }
});
