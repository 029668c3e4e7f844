/**
 * The PKI against a real Node TLS stack: a gateway-like server that requires client certificates
 * from the device CA, and devices (good and bad) connecting to it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CertificateAuthority,
  PkiError,
  inspectCertificate,
  spkiSha256FromDer,
  spkiSha256FromPeerCertificate,
  type IssuedCertificate,
} from '../pki/index.js';

type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

interface SeenPeer {
  commonName: string | undefined;
  spkiSha256: string;
  authorized: boolean;
  protocol: string | null;
  peer: tls.PeerCertificate;
}

describe('mutual TLS with certificates from the device CA', () => {
  const dirs: string[] = [];
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let server: tls.Server;
  let port: number;
  const seen: SeenPeer[] = [];
  const rejected: Error[] = [];
  const open: tls.TLSSocket[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) dirs.push(fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-pki-tls-')));
    [ca, otherCa] = await Promise.all([
      CertificateAuthority.loadOrCreate(dirs[0]!),
      CertificateAuthority.loadOrCreate(dirs[1]!),
    ]);
    const gateway = ca.issueServerCertificate({
      commonName: 'gateway-test',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    server = tls.createServer(
      {
        key: gateway.keyPem,
        cert: gateway.certPem,
        ca: [ca.certPem],
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
      },
      (socket) => {
        const peer = socket.getPeerCertificate();
        const commonName = typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined;
        seen.push({
          commonName,
          spkiSha256: spkiSha256FromPeerCertificate(peer),
          authorized: socket.authorized,
          protocol: socket.getProtocol(),
          peer,
        });
        socket.on('data', (data) => socket.write(`${commonName}:${data.toString()}`));
        socket.on('error', () => undefined);
      },
    );
    server.on('tlsClientError', (err) => rejected.push(err));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const socket of open) socket.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  function connect(options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: [ca.certPem], ...options });
      socket.once('secureConnect', () => resolve(socket));
      socket.once('error', reject);
    });
  }

  function roundTrip(socket: tls.TLSSocket, message: string): Promise<string> {
    return new Promise((resolve, reject) => {
      socket.once('data', (data) => resolve(data.toString()));
      socket.once('error', reject);
      socket.write(message);
    });
  }

  /**
   * Connects, says hello, and waits for the connection to end. With TLS 1.3 the client finishes
   * its side of the handshake before the server has checked the client certificate, so a refused
   * client may briefly see `secureConnect` (and, for a certificate Node rejects after the handshake,
   * only a close, no error); it must still never receive application data.
   */
  function attempt(options: tls.ConnectionOptions): Promise<{ error: Error | undefined; received: string }> {
    return new Promise((resolve) => {
      let error: Error | undefined;
      let received = '';
      const socket = tls.connect({ host: '127.0.0.1', port, ca: [ca.certPem], ...options });
      socket.on('secureConnect', () => socket.write('hello'));
      socket.on('data', (data) => (received += data.toString()));
      socket.on('error', (err) => (error = err));
      socket.on('close', () => resolve({ error, received }));
      socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    });
  }

  async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  const device = (commonName: string, from: () => CertificateAuthority = () => ca): IssuedCertificate =>
    from().issueClientCertificate({ commonName });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as TlsVersion[]) {
    it(`accepts a device certificate over ${version}; refuses no certificate and a foreign CA's`, async () => {
      const name = `dev-${version === 'TLSv1.2' ? '12' : '13'}`;
      const good = device(name);
      const socket = await connect({
        key: good.keyPem,
        cert: good.certPem,
        servername: 'localhost', // verified against the DNS SAN
        minVersion: version,
        maxVersion: version,
      });
      open.push(socket);
      expect(await roundTrip(socket, 'ping')).toBe(`${name}:ping`);
      const peer = seen.at(-1)!;
      expect(peer).toMatchObject({
        commonName: name,
        spkiSha256: good.spkiSha256,
        authorized: true,
        protocol: version,
      });
      expect(peer.spkiSha256).toBe(inspectCertificate(good.certPem).spkiSha256);

      const seenBefore = seen.length;
      const rejectedBefore = rejected.length;

      const noCert = await attempt({ servername: 'localhost', minVersion: version, maxVersion: version });
      expect(noCert.error).toBeDefined();
      expect(noCert.received).toBe('');

      const impostor = device(name, () => otherCa); // same CN, wrong issuer
      const foreign = await attempt({
        key: impostor.keyPem,
        cert: impostor.certPem,
        servername: 'localhost',
        minVersion: version,
        maxVersion: version,
      });
      // Node verifies the chain after the handshake and then just closes the socket (no alert):
      // a TLS 1.2 client sees the handshake fail, a TLS 1.3 client a close before any data.
      if (version === 'TLSv1.2') expect(foreign.error).toBeDefined();
      expect(foreign.received).toBe('');

      // The server refused both during the handshake and never handed them to the application.
      await waitFor(() => rejected.length >= rejectedBefore + 2);
      expect(seen.length).toBe(seenBefore);
      expect(rejected.length).toBe(rejectedBefore + 2);
      expect((rejected.at(-2) as NodeJS.ErrnoException).code).toBe(
        'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
      );

      // Meanwhile the authenticated device's connection is untouched.
      expect(await roundTrip(socket, 'still there?')).toBe(`${name}:still there?`);
    });
  }

  it('verifies the gateway by IP SAN, and matches spkiSha256 for an EC device key (Node pubkey is not an SPKI there)', async () => {
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const issued = ca.issueClientCertificate({
      commonName: 'dev-ec',
      publicKeyPem: ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    });
    const socket = await connect({
      key: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      cert: issued.certPem,
      // no servername: Node checks the IP address 127.0.0.1 against the certificate's IP SAN
    });
    open.push(socket);
    expect(await roundTrip(socket, 'hi')).toBe('dev-ec:hi');
    expect(seen.at(-1)).toMatchObject({
      commonName: 'dev-ec',
      spkiSha256: issued.spkiSha256,
      authorized: true,
    });
    // On the client side the gateway's certificate yields its SPKI hash the same way.
    const gatewayPeer = socket.getPeerCertificate();
    expect(spkiSha256FromDer(gatewayPeer.raw)).toBe(spkiSha256FromDer(gatewayPeer.pubkey!)); // RSA: pubkey is SPKI
    socket.destroy();
  });

  it("takes a peer's SPKI from the key the TLS layer read when those are the certificate's bytes, else parses the certificate", async () => {
    for (const keyType of ['p256', 'rsa2048'] as const) {
      const issued = ca.issueClientCertificate({ commonName: `dev-peer-${keyType}`, keyType });
      const socket = await connect({ key: issued.keyPem!, cert: issued.certPem });
      open.push(socket);
      await roundTrip(socket, 'x');
      const { peer } = seen.at(-1)!;
      expect(spkiSha256FromPeerCertificate(peer)).toBe(issued.spkiSha256);
      // The TLS layer's key answered: a certificate the X.509 library cannot parse still gives it.
      const unparsable = Buffer.concat([Buffer.of(0xff), peer.raw.subarray(1)]);
      expect(() => spkiSha256FromDer(unparsable)).toThrow(PkiError);
      expect(spkiSha256FromPeerCertificate({ ...peer, raw: unparsable })).toBe(issued.spkiSha256);
      // A key that is not inside the certificate, or a curve Node does not know: the certificate's own.
      const other = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
      const otherPoint = other.export({ type: 'spki', format: 'der' }).subarray(-65);
      expect(spkiSha256FromPeerCertificate({ ...peer, pubkey: otherPoint })).toBe(issued.spkiSha256);
      expect(spkiSha256FromPeerCertificate({ ...peer, asn1Curve: 'no-such-curve' })).toBe(issued.spkiSha256);
      socket.destroy();
    }
  });

  it('refuses to talk to a gateway whose certificate does not name the host dialled', async () => {
    const good = device('dev-host');
    await expect(
      connect({ key: good.keyPem, cert: good.certPem, servername: 'gateway.example' }),
    ).rejects.toThrow(/altnames|Hostname/i);
  });
});

describe('an all-ECDSA PKI (P-256 CA and gateway key)', () => {
  it('completes mutual TLS 1.2 and 1.3 with P-256 and RSA-2048 device keys', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-pki-tls-ec-'));
    try {
      const ca = await CertificateAuthority.loadOrCreate(dir, { keyType: 'p256' });
      expect(ca.keyDescription).toBe('EC prime256v1');
      const gateway = ca.issueServerCertificate({
        commonName: 'gateway-ec',
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
        keyType: 'p256',
      });
      expect(crypto.createPrivateKey(gateway.keyPem!).asymmetricKeyType).toBe('ec');
      const server = tls.createServer(
        {
          key: gateway.keyPem,
          cert: gateway.certPem,
          ca: [ca.certPem],
          requestCert: true,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.2',
        },
        (socket) => socket.end(`${inspectCertificate(socket.getPeerCertificate().raw).commonName}`),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      try {
        for (const keyType of ['p256', 'rsa2048'] as const) {
          const device = ca.issueClientCertificate({ commonName: `dev-${keyType}`, keyType });
          for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
            const answer = await new Promise<string>((resolve, reject) => {
              const socket = tls.connect({
                host: '127.0.0.1',
                port,
                ca: [ca.certPem],
                key: device.keyPem,
                cert: device.certPem,
                minVersion: version,
                maxVersion: version,
              });
              let text = '';
              socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
              socket.on('end', () => resolve(text));
              socket.on('error', reject);
            });
            expect(answer).toBe(`dev-${keyType}`);
          }
        }
      } finally {
        server.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
