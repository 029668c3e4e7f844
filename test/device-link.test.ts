/**
 * The device side of a session (device/device-link.ts) against a real DeviceServer over real
 * TLS: what a device says before its handshake has finished goes out after its Hello. A device
 * whose app changed state while it dialled (a device host restarting hundreds of devices with
 * their apps) used to have that ApplicationStatus queued ahead of the Hello, and the gateway
 * closed the session for talking first. And a gateway that goes silent loses the device after 3
 * heartbeat intervals (docs/protocol.md, "Liveness"), against a scripted TLS server.
 */
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DeviceLink } from '../device/device-link.js';
import { Fleet } from '../device/fleet.js';
import { FrameDecoder, encodeMessageFrame } from '../protocol/framing.js';
import { decodeEnvelope, type Message } from '../protocol/messages.js';
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

it('closes a session whose gateway went silent after 3 heartbeat intervals, as the gateway does with a silent device', async () => {
  // A gateway that took the session, set a 200 ms pace, then hung: no more HeartbeatAcks. The
  // device used to keep that dead session (and never dial again) until TCP itself failed.
  const serverCert = gateway.ca.issueServerCertificate({
    commonName: 'hung-gateway',
    dnsNames: [],
    ipAddresses: ['127.0.0.1'],
  });
  const server = tls.createServer({
    cert: serverCert.certPem,
    key: serverCert.keyPem!,
    ca: [gateway.ca.certPem],
    requestCert: true,
  });
  server.on('secureConnection', (socket) => {
    socket.on('error', () => {});
    const frames = new FrameDecoder();
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      for (const frame of frames.push(chunk)) {
        const { messageId, body } = decodeEnvelope(frame);
        if (body.type !== 'Heartbeat' || answered) continue;
        answered = true; // once, then silence
        socket.write(
          encodeMessageFrame({
            version: 1,
            messageId,
            body: { type: 'HeartbeatAck', serverTimeMs: Date.now(), heartbeatIntervalMs: 200 },
          }),
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fleet = new Fleet({ home: gateway.home, endpoint: gateway.endpoint, prefix: 'hung', count: 1 });
  await fleet.prepare();
  const credentials = (
    fleet as unknown as { credentials: { certPem: string; keyPem: string; caPem: string }[] }
  ).credentials[0]!;
  const lines: string[] = [];
  const link = new DeviceLink({
    endpoint: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    credentials,
    deviceInfo: testDeviceInfo,
    log: (line) => lines.push(line),
  });
  try {
    const started = Date.now();
    const timeout = new Promise<'still open'>((r) => setTimeout(() => r('still open'), 10_000).unref());
    expect(await Promise.race([link.closed, timeout])).toBe(true); // the gateway had answered once
    expect(Date.now() - started).toBeLessThan(5000);
    expect(lines.join('\n')).toMatch(/nothing from the gateway in 600 ms/);
  } finally {
    link.close();
    server.close();
  }
});
