/**
 * The gateway shrugs off hostile clients: garbage, oversized length prefixes, half-open
 * TLS handshakes, frame floods and talk before Hello cost bounded resources and never
 * disturb a connected device. Real TLS sockets against a real DeviceServer.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceLink } from '../device/device-link.js';
import { Fleet } from '../device/fleet.js';
import type { CertificateRecord } from '../pki/index.js';
import { encodeFrame, encodeMessageFrame } from '../protocol/framing.js';
import { RequestError } from '../protocol/connection.js';
import { startInProcessGateway } from './support/in-process-gateway.js';
import { testDeviceInfo } from './support/protocol-helpers.js';
import { waitFor } from './support/wait.js';

let gateway: Awaited<ReturnType<typeof startInProcessGateway>>;
let good: Fleet;

beforeAll(async () => {
  gateway = await startInProcessGateway({
    handshakeTimeoutMs: 1000,
    helloTimeoutMs: 1000,
    maxHandshakesInFlight: 40,
    framesPerSecond: 20,
    frameBurst: 40,
    maxFrameBytes: 64 * 1024,
  });
  good = new Fleet({ home: gateway.home, endpoint: gateway.endpoint, prefix: 'good', count: 1 });
  await good.prepare();
  expect(await good.connect()).toBe(1);
  await waitFor('good-0 session', () => gateway.registry.get('good-0'));
});
afterAll(async () => {
  good?.close();
  await gateway?.stop();
});

/** An authenticated attacker: a valid device certificate, bad behaviour. */
async function attacker(name: string, target = gateway): Promise<tls.TLSSocket> {
  const fleet = new Fleet({ home: target.home, endpoint: target.endpoint, prefix: name, count: 1 });
  await fleet.prepare();
  const record = (await target.certificates.findActive(`${name}-0`))!;
  // Re-use the fleet's issued certificate with a raw socket so we control every byte.
  const link = (fleet as unknown as { credentials: { keyPem: string }[] }).credentials[0]!;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: target.port,
      cert: record.certPem,
      key: link.keyPem,
      ca: [target.ca.certPem],
    });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
    socket.resume(); // read (and drop) replies, so the gateway's close is seen
  });
}

const closed = (socket: net.Socket) =>
  new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

async function goodDeviceStillWorks(): Promise<void> {
  const session = gateway.registry.get('good-0');
  expect(session).toBeDefined();
  const link = good.devices[0]!.link!;
  const reply = await link.connection.request({ type: 'Heartbeat', uptimeMs: 1 }, { timeoutMs: 2000 });
  expect(reply.type).toBe('HeartbeatAck');
  const ack = await session!.request({ type: 'StopApplication', appId: 'nothing' }, { timeoutMs: 2000 });
  expect(ack).toEqual({ type: 'StopAck', appId: 'nothing', ok: true, error: null });
}

describe('hostile clients', () => {
  it('drops plain-TCP garbage', async () => {
    const sockets = Array.from({ length: 20 }, () => {
      const socket = net.connect(gateway.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n' + 'A'.repeat(2000)));
      return socket;
    });
    await Promise.all(sockets.map(closed));
    await goodDeviceStillWorks();
  });

  it('times out half-open handshakes and sheds connections beyond the in-flight cap', async () => {
    const shedBefore = gateway.server.metrics.handshakesShed;
    const sockets = Array.from({ length: 60 }, () => {
      const socket = net.connect(gateway.port, '127.0.0.1');
      socket.on('error', () => {});
      return socket; // connects and never says a word: slowloris
    });
    await waitFor('the cap to be hit', () => gateway.server.metrics.handshakesShed > shedBefore);
    expect(gateway.server.inFlightHandshakes).toBeLessThanOrEqual(40);
    await goodDeviceStillWorks();
    await Promise.all(sockets.map(closed)); // handshake timeout: 1 s
    await waitFor('no handshakes in flight', () => gateway.server.inFlightHandshakes === 0);
  });

  it('closes a session that announces an oversized frame, before buffering it', async () => {
    const socket = await attacker('oversize');
    const errorsBefore = gateway.server.metrics.decodeErrors;
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xfffffff0);
    socket.write(header);
    await closed(socket);
    expect(gateway.server.metrics.decodeErrors).toBe(errorsBefore + 1);
    await goodDeviceStillWorks();
  });

  it('closes a session that sends undecodable CBOR', async () => {
    const socket = await attacker('garbage');
    socket.write(encodeFrame(Buffer.from([0x83, 0x01, 0x01, 0xff, 0xff])));
    await closed(socket);
    await goodDeviceStillWorks();
  });

  it('closes a session that talks before its Hello, and one that never says Hello', async () => {
    const early = await attacker('early');
    early.write(
      encodeMessageFrame({
        version: 1,
        messageId: 1,
        body: { type: 'Publish', appId: 'a', topic: 't', data: new Uint8Array([1]) },
      }),
    );
    await closed(early);
    const mute = await attacker('mute');
    await closed(mute); // hello timeout: 1 s
    expect(gateway.registry.get('mute-0')).toBeUndefined();
    await goodDeviceStillWorks();
  });

  it('closes a session whose first message is a Heartbeat, unanswered (docs/protocol.md, Session)', async () => {
    // A gateway whose Hello deadline is far away: the session must close for the Heartbeat itself.
    // It used to be ignored without an answer and the session kept until the deadline.
    const patient = await startInProcessGateway({ helloTimeoutMs: 120_000 });
    try {
      const early = await attacker('early-heartbeat', patient);
      let replies = 0;
      early.on('data', () => replies++);
      early.write(encodeMessageFrame({ version: 1, messageId: 1, body: { type: 'Heartbeat', uptimeMs: 5 } }));
      await closed(early);
      expect(replies).toBe(0); // no HeartbeatAck: the gateway answers only a device that said Hello
      expect(patient.registry.get('early-heartbeat-0')).toBeUndefined();
    } finally {
      await patient.stop();
    }
  });

  it('closes a session that floods frames', async () => {
    const socket = await attacker('flood');
    socket.on('error', () => {});
    socket.write(
      encodeMessageFrame({
        version: 1,
        messageId: 1,
        body: {
          type: 'DeviceInfo',
          firmwareVersion: 'x',
          mcuType: 'Stm32F746gDisco',
          freeMemory: 1,
          maxAppSize: 1,
          wasmFeatures: [],
        },
      }),
    );
    const floodsBefore = gateway.server.metrics.floodsClosed;
    const frames = Array.from({ length: 500 }, (_, i) =>
      encodeMessageFrame({ version: 1, messageId: i + 2, body: { type: 'Heartbeat', uptimeMs: i } }),
    );
    socket.write(Buffer.concat(frames));
    await closed(socket);
    expect(gateway.server.metrics.floodsClosed).toBe(floodsBefore + 1);
    await goodDeviceStillWorks();
  });
});

describe('certificates', () => {
  it("records a session's certificate serial as the ledger spells it, also one starting with a zero nibble", async () => {
    // 1 in 16 serials starts with a 0 nibble, and sessions dropped it: the gateway then wrote the
    // same certificate into the device's status in a second spelling. Issue until the ledger has one.
    let record: CertificateRecord | undefined;
    for (let i = 0; i < 400 && !record?.serial.startsWith('0'); i++) {
      record = await gateway.certificates.issue(`zero-${i}`);
    }
    expect(record!.serial).toMatch(/^0[1-9a-f]/);
    const link = new DeviceLink({
      endpoint: gateway.endpoint,
      credentials: { certPem: record!.certPem, keyPem: record!.keyPem!, caPem: gateway.ca.certPem },
      deviceInfo: testDeviceInfo,
    });
    try {
      const session = await waitFor(`${record!.deviceName} session`, () =>
        gateway.registry.get(record!.deviceName),
      );
      expect(session.info.certSerial).toBe(record!.serial);
    } finally {
      link.close();
    }
  });

  it('refuses a revoked certificate, and closes nothing else', async () => {
    const fleet = new Fleet({ home: gateway.home, endpoint: gateway.endpoint, prefix: 'revoked', count: 1 });
    await fleet.prepare();
    expect(await gateway.certificates.revoke('revoked-0')).toBe(1);
    const rejectedBefore = gateway.server.metrics.handshakesRejected;
    await fleet.connect(); // with TLS 1.3 the client learns the verdict after its handshake
    // No session, though the handshake finished: a device backs off before it dials again.
    expect(await fleet.devices[0]!.link!.closed).toBe(false);
    expect(gateway.registry.get('revoked-0')).toBeUndefined();
    expect(gateway.server.metrics.handshakesRejected).toBeGreaterThan(rejectedBefore);
    await goodDeviceStillWorks();
  });

  it('closes a live session whose certificate is revoked since its handshake (a copy left behind by a moved device)', async () => {
    const fleet = new Fleet({ home: gateway.home, endpoint: gateway.endpoint, prefix: 'left', count: 1 });
    await fleet.prepare();
    await fleet.connect();
    const session = await waitFor('left-0 session', () => gateway.registry.get('left-0'));
    const down = new Promise<string>((resolve) =>
      gateway.registry.on('down', (s, reason) => s === session && resolve(reason)),
    );
    // Heartbeats keep coming (every 500 ms), so only the certificate recheck can close it.
    expect(await gateway.certificates.revoke('left-0')).toBe(1);
    const reason = await waitFor('the revoked session closed', () =>
      Promise.race([down, new Promise<undefined>((resolve) => setTimeout(resolve, 100))]),
    );
    expect(reason).toMatch(/certificate [0-9a-f]+ was revoked or superseded/);
    expect(gateway.registry.get('left-0')).toBeUndefined();
    fleet.close();
    await goodDeviceStillWorks();
  });
});

describe('requests to devices', () => {
  it('times out with a clear error when the device never answers', async () => {
    const silent = new Fleet({
      home: gateway.home,
      endpoint: gateway.endpoint,
      prefix: 'silent',
      count: 1,
      behaviour: 'silent',
    });
    await silent.prepare();
    await silent.connect();
    const session = await waitFor('silent-0 session', () => gateway.registry.get('silent-0'));
    const started = Date.now();
    const error = await session
      .request(
        {
          type: 'DeployApplication',
          appId: 'a1',
          name: 'a1',
          module: new Uint8Array([0, 97, 115, 109]),
          entry: '_start',
          limits: { memoryPages: 1, cpuMsPerCall: null },
          env: {},
          args: [],
        },
        { timeoutMs: 700 },
      )
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RequestError);
    expect((error as RequestError).reason).toBe('Timeout');
    expect((error as Error).message).toBe('no DeployAck from silent-0 within 700 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(650);
    silent.close();
  });

  it('fails at once when the session drops mid-request', async () => {
    const silent = new Fleet({
      home: gateway.home,
      endpoint: gateway.endpoint,
      prefix: 'dropper',
      count: 1,
      behaviour: 'silent',
    });
    await silent.prepare();
    await silent.connect();
    const session = await waitFor('dropper-0 session', () => gateway.registry.get('dropper-0'));
    const pending = session
      .request({ type: 'RequestDeviceInfo' }, { timeoutMs: 60_000 })
      .catch((err: unknown) => err);
    setTimeout(() => silent.devices[0]!.link!.socket.destroy(), 100);
    const started = Date.now();
    const error = await pending;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toBeInstanceOf(RequestError);
    expect((error as RequestError).reason).toBe('SessionClosed');
    expect((error as Error).message).toMatch(
      /session of dropper-0 closed while waiting for DeviceInfo to RequestDeviceInfo/,
    );
  });

  it('replaces the older session when the same device connects twice', async () => {
    const twin = new Fleet({ home: gateway.home, endpoint: gateway.endpoint, prefix: 'twin', count: 1 });
    await twin.prepare();
    await twin.connect();
    const first = await waitFor('twin-0 session', () => gateway.registry.get('twin-0'));
    const firstLink = twin.devices[0]!.link!;
    await twin.connect(); // same certificate, new connection
    await waitFor(
      'replacement',
      () => gateway.registry.get('twin-0') !== first && gateway.registry.get('twin-0'),
    );
    expect(await firstLink.closed).toBe(true);
    expect(gateway.registry.list().filter((s) => s.info.device === 'twin-0')).toHaveLength(1);
    twin.close();
  });
});
