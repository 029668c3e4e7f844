// ProtocolConnection over a real loopback TCP socket: request/reply correlation by messageId.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ProtocolConnection } from '../protocol/connection.js';
import { MESSAGE_ID_RANGES, type Envelope } from '../protocol/messages.js';

const sockets: net.Socket[] = [];
let server: net.Server | undefined;

async function linkedPair(): Promise<{ gateway: ProtocolConnection; device: ProtocolConnection }> {
  const accepted = new Promise<net.Socket>((resolve) => {
    server = net.createServer(resolve).listen(0, '127.0.0.1');
  });
  await new Promise((resolve) => server!.once('listening', resolve));
  const port = (server!.address() as net.AddressInfo).port;
  const deviceSocket = net.connect(port, '127.0.0.1');
  const gatewaySocket = await accepted;
  sockets.push(deviceSocket, gatewaySocket);
  return {
    gateway: new ProtocolConnection(gatewaySocket, {}, 'device-1', 'gateway'),
    device: new ProtocolConnection(deviceSocket, {}, 'gateway', 'device'),
  };
}

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
  server?.close();
});

describe('ProtocolConnection messageIds', () => {
  it('numbers device messages and gateway messages from ranges that cannot overlap', async () => {
    const { gateway, device } = await linkedPair();
    const seenByDevice: Envelope[] = [];
    const seenByGateway: Envelope[] = [];
    device.on('message', (e) => seenByDevice.push(e));
    gateway.on('message', (e) => seenByGateway.push(e));
    device.send({ type: 'Heartbeat', uptimeMs: 1 });
    device.send({ type: 'Heartbeat', uptimeMs: 2 });
    gateway.send({ type: 'RequestApplicationStatus', appId: null });
    await waitUntil(() => seenByGateway.length === 2 && seenByDevice.length === 1);
    expect(seenByGateway.map((e) => e.messageId)).toEqual([1, 2]);
    expect(seenByDevice[0]!.messageId).toBe(MESSAGE_ID_RANGES.gateway.first);
  });

  it('does not take an unsolicited ApplicationStatus for the reply to a pending RequestApplicationStatus', async () => {
    const { gateway, device } = await linkedPair();
    const unsolicited: Envelope[] = [];
    gateway.on('message', (e) => unsolicited.push(e));
    // The device answers only after first reporting, on its own, that an app failed: with a
    // shared id space this report could carry the request's id and settle it with the wrong body.
    device.on('message', (request) => {
      device.send({
        type: 'ApplicationStatus',
        apps: [{ appId: 'faulty', state: 'Failed', error: 'trap', restarts: 0 }],
      });
      device.send(
        { type: 'ApplicationStatus', apps: [{ appId: 'hello', state: 'Running', error: null, restarts: 0 }] },
        request.messageId,
      );
    });
    const reply = await gateway.request(
      { type: 'RequestApplicationStatus', appId: null },
      { timeoutMs: 5_000 },
    );
    expect(reply).toEqual({
      type: 'ApplicationStatus',
      apps: [{ appId: 'hello', state: 'Running', error: null, restarts: 0 }],
    });
    await waitUntil(() => unsolicited.length === 1);
    expect(unsolicited[0]!.body).toEqual({
      type: 'ApplicationStatus',
      apps: [{ appId: 'faulty', state: 'Failed', error: 'trap', restarts: 0 }],
    });
    expect(unsolicited[0]!.messageId).toBeLessThanOrEqual(MESSAGE_ID_RANGES.device.last);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
