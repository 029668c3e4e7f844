/**
 * Claim-based enrollment end to end: a real platform (Temporal dev server, orchestrator,
 * gateway and web processes), boards started as real `wasmbed-device` processes through the
 * package's bin entry, raw TLS clients for what a board must not do, and the dashboard in a
 * real browser. Covers issue 9's "must be shown" list; the CSR and claim-credential rules are
 * checked first on their own (no platform).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import Database from 'better-sqlite3';
import forge from 'node-forge';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../common/config.js';
import { REPO_ROOT } from '../common/repo-root.js';
import { createLogger } from '../common/logger.js';
import { DeviceServer, type GatewayLimits } from '../gateway/device-server.js';
import { ENROLLMENT_ALPN } from '../gateway/enrollment-session.js';
import { SessionRegistry } from '../gateway/session-registry.js';
import { RateLimiter } from '../gateway/rate-limiter.js';
import { CertificateAuthority } from '../pki/certificate-authority.js';
import { ClaimCredentials } from '../pki/claim-credentials.js';
import { SqliteClaimCredentialStore } from '../pki/sqlite-claim-credential-store.js';
import { createCsr, verifyCsr } from '../pki/csr.js';
import { ProtocolConnection } from '../protocol/connection.js';
import type { EnrollmentRequest, Envelope, Message } from '../protocol/messages.js';
import { launchBrowser, saveScreenshot } from './support/browser.js';
import { filesHoldingKey } from './support/key-material.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

describe('CSRs and claim credentials (no platform)', () => {
  it('accepts EC P-256 and RSA-2048 CSRs and refuses weak keys, bad signatures and no CN', () => {
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const ecCsr = verifyCsr(createCsr(ec, 'board-a'));
    expect(ecCsr).toMatchObject({ commonName: 'board-a', keyDescription: 'EC prime256v1' });

    // An RSA CSR made by another implementation (node-forge), as a board's TLS stack would.
    const rsa = forge.pki.rsa.generateKeyPair(2048);
    const request = forge.pki.createCertificationRequest();
    request.publicKey = rsa.publicKey;
    request.setSubject([{ name: 'commonName', value: 'board-b' }]);
    request.sign(rsa.privateKey, forge.md.sha256.create());
    const der = Buffer.from(
      forge.asn1.toDer(forge.pki.certificationRequestToAsn1(request)).getBytes(),
      'binary',
    );
    expect(verifyCsr(der)).toMatchObject({ commonName: 'board-b', keyDescription: 'RSA-2048' });

    const tampered = Buffer.from(der);
    tampered[tampered.length - 1]! ^= 0xff;
    expect(() => verifyCsr(tampered)).toThrow(/signature does not verify/);
    const weak = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    expect(() => verifyCsr(createCsr(weak, 'board-c'))).toThrow(/RSA-1024; accepted: RSA 2048-8192/);
    const p384 = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey;
    expect(() => verifyCsr(createCsr(p384, 'board-d'))).toThrow(/EC secp384r1/);
    expect(() => verifyCsr(Buffer.from('not a csr'))).toThrow(/not a PKCS#10 request/);
    request.setSubject([{ name: 'organizationName', value: 'no name here' }]);
    request.sign(rsa.privateKey, forge.md.sha256.create());
    const noCn = Buffer.from(
      forge.asn1.toDer(forge.pki.certificationRequestToAsn1(request)).getBytes(),
      'binary',
    );
    expect(() => verifyCsr(noCn)).toThrow(/subject has no CN/);
  });

  it('stores tokens hashed, binds each to one device and key, and refuses reuse, expiry and revocation', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-claims-'));
    try {
      const db = new Database(path.join(dir, 'claims.db'));
      let now = new Date('2026-01-01T00:00:00Z');
      const claims = new ClaimCredentials(
        new SqliteClaimCredentialStore(db),
        await CertificateAuthority.loadOrCreate(dir),
        () => now,
      );
      const { token, id } = await claims.createToken({ ttl: '1h' });
      const stored = JSON.stringify(db.prepare('SELECT * FROM claim_credentials').all());
      expect(stored).not.toContain(token);
      expect(stored).toContain(crypto.createHash('sha256').update(token).digest('hex'));

      expect((await claims.claim({ kind: 'token', token }, 'dev-a', 'key-a')).state).toBe('Bound');
      // The same board asking again (it reconnected) is fine; anybody else is not.
      expect((await claims.claim({ kind: 'token', token }, 'dev-a', 'key-a')).id).toBe(id);
      await expect(claims.claim({ kind: 'token', token }, 'dev-b', 'key-b')).rejects.toThrow(/already used$/);
      await expect(claims.claim({ kind: 'token', token }, 'dev-a', 'key-other')).rejects.toThrow(
        /already used/,
      );
      await claims.finish(id, 'rejected', 'unknown board');
      await expect(claims.claim({ kind: 'token', token }, 'dev-a', 'key-a')).rejects.toThrow(
        /rejected: unknown board/,
      );

      const named = await claims.createToken({ name: 'dev-n' });
      await expect(claims.claim({ kind: 'token', token: named.token }, 'dev-x', 'k')).rejects.toThrow(
        /is for device "dev-n"/,
      );
      const expiring = await claims.createToken({ ttl: 60 });
      now = new Date(now.getTime() + 61_000);
      await expect(claims.claim({ kind: 'token', token: expiring.token }, 'dev-e', 'k')).rejects.toThrow(
        /expired/,
      );
      const revoked = await claims.createToken({});
      await claims.revoke(revoked.id);
      await expect(claims.claim({ kind: 'token', token: revoked.token }, 'dev-r', 'k')).rejects.toThrow(
        /revoked/,
      );
      await expect(claims.claim({ kind: 'token', token: 'wbt_guess' }, 'dev-g', 'k')).rejects.toThrow(
        /unknown enrollment token/,
      );
      await expect(claims.createToken({ ttl: '90d' })).rejects.toThrow(/ttl must be/);

      // Claim certificates are found by the serial Node prints, also when it starts with a zero
      // nibble (1 in 16 serials; the gateway once refused those): keep issuing until one does.
      now = new Date();
      let leadingZero: { id: string; serial: string } | undefined;
      for (let i = 0; i < 200 && !leadingZero; i++) {
        const issued = await claims.createClaimCertificate({ name: `claim-${i}`, ttl: '1h' });
        const printed = new crypto.X509Certificate(issued.certPem).serialNumber;
        if (/^0/.test(printed)) leadingZero = { id: issued.id, serial: printed };
      }
      expect(leadingZero).toBeDefined();
      expect(await claims.isUsableCertificate(leadingZero!.serial)).toBe(true);
      const withoutZero = leadingZero!.serial.replace(/^0+/, '');
      expect(await claims.isUsableCertificate(withoutZero)).toBe(true);
      // Stored in whole bytes, the one spelling of serials (serialHex)…
      const row = () =>
        db
          .prepare<[string], { serial: string }>('SELECT serial FROM claim_credentials WHERE id = ?')
          .get(leadingZero!.id)!.serial;
      expect(row()).toBe(leadingZero!.serial.toLowerCase());
      // …and a row written before, without its leading zero, is rewritten so when the store opens.
      db.prepare('UPDATE claim_credentials SET serial = ? WHERE id = ?').run(
        withoutZero.toLowerCase(),
        leadingZero!.id,
      );
      expect(await claims.isUsableCertificate(leadingZero!.serial)).toBe(false);
      const reopened = new ClaimCredentials(
        new SqliteClaimCredentialStore(db),
        await CertificateAuthority.loadOrCreate(dir),
        () => now,
      );
      expect(row()).toBe(leadingZero!.serial.toLowerCase());
      expect(await reopened.isUsableCertificate(leadingZero!.serial)).toBe(true);
      expect(
        (
          await claims.claim(
            { kind: 'certificate', serial: leadingZero!.serial },
            (await claims.get(leadingZero!.id)).deviceName!,
            'k',
          )
        ).state,
      ).toBe('Bound');
      db.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rate limits of claim sessions (no platform)', () => {
  it('lets each key spend its burst, then refills at its rate, keys apart', () => {
    let now = 0;
    const limiter = new RateLimiter(6 / 60, 3, 10_000, () => now);
    expect([1, 2, 3, 4].map(() => limiter.take('10.0.0.1'))).toEqual([true, true, true, false]);
    expect(limiter.take('10.0.0.2')).toBe(true); // another address has its own budget
    now += 9_000; // less than one refill (10 s per token)
    expect(limiter.take('10.0.0.1')).toBe(false);
    now += 1_000;
    expect(limiter.take('10.0.0.1')).toBe(true);
  });

  it('forgets idle keys instead of growing without bound', () => {
    let now = 0;
    const limiter = new RateLimiter(1, 2, 100, () => now);
    for (let i = 0; i < 1000; i++) limiter.take(`addr-${i}`);
    expect((limiter as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThanOrEqual(100);
    now += 10_000;
    expect(limiter.take('addr-0')).toBe(true);
  });
});

describe('claim sessions under abuse (a real DeviceServer and real TLS in this process)', () => {
  // The enrollment handler is replaced by a recorder here (no Temporal): these tests are about
  // what the server itself allows a claim session to do and how often.
  async function claimServer(limits: Partial<GatewayLimits>) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-claim-gw-'));
    const ca = await CertificateAuthority.loadOrCreate(path.join(dir, 'ca'));
    const claimCa = await CertificateAuthority.loadOrCreate(path.join(dir, 'claim'), {
      commonName: 'Test Claim CA',
    });
    const serverCert = ca.issueServerCertificate({
      commonName: 'gw',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    const requests: EnrollmentRequest[] = [];
    const server = new DeviceServer({
      tls: { certPem: serverCert.certPem, keyPem: serverCert.keyPem!, caPem: ca.certPem },
      registry: new SessionRegistry(),
      isCurrentCertificate: async () => false,
      heartbeatIntervalMs: 500,
      heartbeatTimeoutMs: 1500,
      limits: { helloTimeoutMs: 500, ...limits },
      logger: createLogger('test-claim-gateway'),
      enrollment: {
        claimCaPem: claimCa.certPem,
        isUsableClaimCertificate: async () => true,
        holdMs: 60_000,
        onRequest(connection, request) {
          requests.push(request);
          // wbt_hold: held open, like a request waiting for an operator.
          if (request.claimToken !== 'wbt_hold')
            connection.answer({ type: 'EnrollmentRejected', reason: `recorded ${requests.length}` });
        },
      },
    });
    const port = await server.listen('127.0.0.1', 0);
    /** Opens a token-mode claim session; resolves with what the gateway answered before closing. */
    const session = (messages: Message[]) =>
      new Promise<{ replies: Message[] }>((resolve, reject) => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port,
          ca: [ca.certPem],
          ALPNProtocols: [ENROLLMENT_ALPN],
        });
        const connection = new ProtocolConnection(socket, {}, 'gateway');
        const replies: Message[] = [];
        connection.on('message', (e) => replies.push(e.body));
        socket.once('secureConnect', () => {
          for (const m of messages) connection.send(m);
        });
        socket.once('error', (err) => (replies.length ? undefined : reject(err)));
        socket.once('close', () => resolve({ replies }));
      });
    return {
      server,
      requests,
      session,
      async stop() {
        await server.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const request = (token: string): Message => ({
    type: 'EnrollmentRequest',
    csrDer: createCsr(crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey, 'x'),
    claimToken: token,
  });

  it('closes a claim session that sends nothing, or a second request, and answers one without a credential', async () => {
    const gw = await claimServer({});
    try {
      expect(await gw.session([])).toMatchObject({ replies: [] }); // closed at the Hello deadline
      // While its request is held, a board may not say anything else, not even ask again.
      const twice = await gw.session([request('wbt_hold'), request('wbt_hold')]);
      expect(twice.replies).toEqual([]);
      expect(gw.server.metrics.enrollmentSessionsClosed).toBe(2);
      const none = await gw.session([
        { type: 'EnrollmentRequest', csrDer: new Uint8Array([0x30, 0]), claimToken: null },
      ]);
      expect(none.replies).toEqual([
        {
          type: 'EnrollmentRejected',
          reason: 'no claim credential: send a claim token or connect with a claim certificate',
        },
      ]);
    } finally {
      await gw.stop();
    }
  });

  it('rate-limits claim sessions per source address and requests per credential', async () => {
    const perCredential = await claimServer({ enrollmentsPerMinutePerCredential: 2 });
    try {
      const answers = [];
      for (let i = 0; i < 3; i++)
        answers.push((await perCredential.session([request('wbt_same')])).replies[0]);
      expect(answers.map((a) => a && 'reason' in a && a.reason)).toEqual([
        'recorded 1',
        'recorded 2',
        'too many enrollment requests with this claim credential; try again later',
      ]);
      // Another credential from the same address still gets through.
      expect((await perCredential.session([request('wbt_other')])).replies[0]).toMatchObject({
        reason: 'recorded 3',
      });
    } finally {
      await perCredential.stop();
    }
    const perAddress = await claimServer({ enrollmentsPerMinutePerAddress: 2 });
    try {
      for (let i = 0; i < 2; i++) await perAddress.session([request(`wbt_${i}`)]);
      const refused = await perAddress.session([request('wbt_3')]);
      expect(refused.replies).toEqual([]); // closed before a message was read
      expect(perAddress.requests).toHaveLength(2);
      expect(perAddress.server.metrics.enrollmentsRateLimited).toBe(1);
    } finally {
      await perAddress.stop();
    }
  });
});

describe('enrollment on a real platform', () => {
  let platform: TestPlatform;
  let boardsDir: string;
  let caFile: string;
  let browser: Browser | undefined;
  const boards: Board[] = [];

  interface Board {
    name: string;
    stateDir: string;
    child: ChildProcess;
    lines: string[];
    exited: Promise<number | null>;
  }

  /** A board powered on: `wasmbed-device` (package.json bin) as its own process. */
  function startBoard(
    name: string,
    options: { token?: string; stateDir?: string; claimCert?: string[] } = {},
  ): Board {
    const stateDir = options.stateDir ?? path.join(boardsDir, `${name}-${boards.length}`);
    const args = [
      path.join(REPO_ROOT, 'device', 'wasmbed-device.mjs'),
      '--gateway',
      `127.0.0.1:${platform.gatewayPort}`,
      '--ca',
      caFile,
      '--name',
      name,
      '--state-dir',
      stateDir,
      ...(options.token ? ['--claim-token', options.token] : []),
      ...(options.claimCert ?? []),
    ];
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        lines.push(line);
        if (process.env.WASMBED_TEST_VERBOSE) process.stderr.write(`[board ${name}] ${line}\n`);
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const board = { name, stateDir, child, lines, exited };
    boards.push(board);
    return board;
  }

  const device = async (name: string) => (await platform.api('GET', `/api/v1/devices/${name}`)).body;
  const newToken = async (body: object = {}) => {
    const res = await platform.api('POST', '/api/v1/enrollment-tokens', body);
    expect(res.status).toBe(201);
    return res.body as { id: string; token: string; expiresAt: string };
  };
  const spkiOfKey = (stateDir: string) =>
    crypto
      .createHash('sha256')
      .update(
        crypto
          .createPublicKey(fs.readFileSync(path.join(stateDir, 'device.key'), 'utf8'))
          .export({ type: 'spki', format: 'der' }),
      )
      .digest('hex');

  beforeAll(async () => {
    platform = await startTestPlatform({ durableTemporal: true });
    boardsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-boards-'));
    // What an operator hands to a board: the CA as the platform publishes it.
    const ca = await fetch(`${platform.webUrl}/api/v1/pki/ca.pem`);
    expect(ca.headers.get('content-type')).toMatch(/application\/x-pem-file/);
    caFile = path.join(boardsDir, 'ca.pem');
    fs.writeFileSync(caFile, await ca.text());
    expect(new crypto.X509Certificate(fs.readFileSync(caFile)).ca).toBe(true);
  });
  afterAll(async () => {
    for (const board of boards) if (board.child.exitCode === null) board.child.kill('SIGKILL');
    await browser?.close();
    await platform?.stop();
    if (boardsDir) fs.rmSync(boardsDir, { recursive: true, force: true });
  });

  let first: Board;

  it('token → enrollment pending → approve → Connected; the platform holds no private key for it', async () => {
    const { token, id } = await newToken({ ttl: '10m' });
    first = startBoard('board-1', { token });
    const pending = await waitFor('board-1 pending', async () => {
      const items = (await platform.api('GET', '/api/v1/enrollments')).body.items as {
        name: string;
        sourceAddress: string;
      }[];
      return items.find((e) => e.name === 'board-1');
    });
    // The fingerprint the operator sees is the board's own key.
    expect(first.lines.join('\n')).toContain(`key fingerprint ${spkiOfKey(first.stateDir)}`);
    expect(pending).toMatchObject({
      csrFingerprint: spkiOfKey(first.stateDir),
      keyType: 'EC prime256v1',
      claim: id,
    });
    expect(pending.sourceAddress).toMatch(/^(::ffff:)?127\.0\.0\.1:\d+$/);
    const waiting = await device('board-1');
    expect(waiting.spec).toMatchObject({ runtime: 'external', enrollment: 'approval' });
    expect(waiting.status).toMatchObject({ phase: 'Pending', enrollment: { state: 'AwaitingApproval' } });

    const approved = await platform.api('POST', '/api/v1/enrollments/board-1/approve');
    expect(approved).toMatchObject({ status: 202, body: { workflowId: 'enroll-board-1' } });
    await waitFor('board-1 Connected', async () => (await device('board-1')).status.phase === 'Connected');
    const connected = await device('board-1');
    expect(connected.status.identity.spkiSha256).toBe(spkiOfKey(first.stateDir));
    expect(connected.status.enrollment.state).toBe('Enrolled');
    expect(first.lines.join('\n')).toMatch(/enrolled: certificate stored/);
    const cert = new crypto.X509Certificate(fs.readFileSync(path.join(first.stateDir, 'device.crt')));
    expect(
      cert.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(path.join(first.stateDir, 'device.key')))),
    ).toBe(true);
    expect(cert.subject).toBe('CN=board-1');

    // No private key of board-1 anywhere in the data dir: not in the certificate table, not in
    // any file (the database, its WAL, volumes, logs).
    const db = new Database(paths.db(platform.home), { readonly: true });
    const rows = db.prepare("SELECT key_pem FROM certificates WHERE device_name = 'board-1'").all() as {
      key_pem: string | null;
    }[];
    db.close();
    expect(rows).toEqual([{ key_pem: null }]);
    // The secret itself (the EC private scalar), however it might be encoded around it.
    const scan = filesHoldingKey(
      platform.home,
      fs.readFileSync(path.join(first.stateDir, 'device.key'), 'utf8'),
    );
    expect(scan.scanned.some((f) => f.endsWith('wasmbed.db'))).toBe(true);
    expect(scan.holding).toEqual([]);
    expect(fs.existsSync(paths.volume(platform.home, 'board-1'))).toBe(false);
    const credential = (await platform.api('GET', '/api/v1/enrollment-tokens')).body.items.find(
      (c: { id: string }) => c.id === id,
    );
    expect(credential).toMatchObject({ state: 'Enrolled', usedBy: 'board-1' });
  });

  it('connects a pre-registered device with a valid token without an operator', async () => {
    const created = await platform.api('POST', '/api/v1/devices', {
      name: 'pre-1',
      enrollment: 'preauthorized',
    });
    expect(created).toMatchObject({ status: 202, body: { workflowId: 'enroll-pre-1' } });
    expect((await device('pre-1')).spec.runtime).toBe('external');
    const { token } = await newToken({ name: 'pre-1' });
    startBoard('pre-1', { token });
    await waitFor('pre-1 Connected', async () => (await device('pre-1')).status.phase === 'Connected');
    expect((await device('pre-1')).status.enrollment.state).toBe('Enrolled');
    expect((await platform.api('GET', '/api/v1/enrollments')).body.items).toEqual([]);
  });

  it('enrolls and connects a board that holds an RSA-2048 key (device keys are P-256 by default)', async () => {
    const created = await platform.api('POST', '/api/v1/devices', {
      name: 'rsa-board',
      enrollment: 'preauthorized',
    });
    expect(created.status).toBe(202);
    // The board's own storage already holds an RSA key: it enrolls with that key, not a new one.
    const stateDir = path.join(boardsDir, 'rsa-board-state');
    fs.mkdirSync(stateDir, { mode: 0o700 });
    const rsaKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    fs.writeFileSync(path.join(stateDir, 'device.key'), rsaKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    const { token } = await newToken({ name: 'rsa-board' });
    startBoard('rsa-board', { token, stateDir });
    await waitFor(
      'rsa-board Connected',
      async () => (await device('rsa-board')).status.phase === 'Connected',
    );
    expect((await device('rsa-board')).status.identity.spkiSha256).toBe(spkiOfKey(stateDir));
    const cert = new crypto.X509Certificate(fs.readFileSync(path.join(stateDir, 'device.crt')));
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
    expect(cert.checkPrivateKey(rsaKey)).toBe(true);
  });

  it('delivers the certificate when a board that went away while waiting asks again', async () => {
    const { token } = await newToken();
    const gone = startBoard('wanderer', { token });
    await waitFor(
      'wanderer pending',
      async () => (await device('wanderer')).status.enrollment?.state === 'AwaitingApproval',
    );
    gone.child.kill('SIGKILL'); // power lost while waiting for the operator
    await gone.exited;
    expect((await platform.api('POST', '/api/v1/enrollments/wanderer/approve')).status).toBe(202);
    // The workflow finds the held connection gone…
    const handle = platform.client.workflow.getHandle('enroll-wanderer');
    await waitFor('answer failed: connection gone', async () => {
      const history = await handle.fetchHistory();
      return history.events?.some(
        (e) =>
          e.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.type ===
          'EnrollmentConnectionGone',
      );
    });
    // …and answers the board's next request, same key, same token.
    const back = startBoard('wanderer', { token, stateDir: gone.stateDir });
    await waitFor('wanderer Connected', async () => (await device('wanderer')).status.phase === 'Connected');
    expect(back.lines.join('\n')).toMatch(/enrolled: certificate stored/);
    expect((await device('wanderer')).status.identity.spkiSha256).toBe(spkiOfKey(gone.stateDir));
    expect(await handle.result()).toMatchObject({ outcome: 'Enrolled' });
  });

  it('refuses a used token and an expired one', async () => {
    const used = (await platform.api('GET', '/api/v1/enrollment-tokens')).body.items.find(
      (c: { usedBy: string | null }) => c.usedBy === 'board-1',
    );
    expect(used).toBeDefined();
    // The used token's text: the first board's command line.
    const usedToken = first.child.spawnargs[first.child.spawnargs.indexOf('--claim-token') + 1]!;
    const second = startBoard('board-2', { token: usedToken });
    expect(await second.exited).toBe(1);
    expect(second.lines.join('\n')).toMatch(
      /EnrollmentRejected: enrollment token tok-[0-9a-f]+ was already used$/m,
    );

    const expiring = await newToken({ ttl: 1 });
    await waitFor('token expiry', () => Date.now() > Date.parse(expiring.expiresAt) + 200);
    const late = startBoard('board-3', { token: expiring.token });
    expect(await late.exited).toBe(1);
    expect(late.lines.join('\n')).toMatch(/EnrollmentRejected: enrollment token tok-[0-9a-f]+ expired at/);
    for (const name of ['board-2', 'board-3']) {
      expect((await platform.api('GET', `/api/v1/devices/${name}`)).status).toBe(404);
    }
  });

  /** A raw claim session: TLS with ALPN (and optionally a claim certificate), then `body`. */
  async function claimSessionSends(body: Message, cert?: { certPem: string; keyPem: string }) {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: platform.gatewayPort,
      ca: [fs.readFileSync(caFile, 'utf8')],
      ALPNProtocols: [ENROLLMENT_ALPN],
      ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
    });
    const connection = new ProtocolConnection(socket, {}, 'gateway');
    const received: Envelope[] = [];
    connection.on('message', (e) => received.push(e));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    connection.send(body);
    await closed;
    return received;
  }

  it('lets a claim credential send nothing but EnrollmentRequest', async () => {
    const metrics = async () =>
      Number(
        /wasmbed_gateway_enrollment_sessions_closed_total\{[^}]*\} (\d+)/.exec(
          await (await fetch(`${platform.gatewayHealthUrl}/metrics`)).text(),
        )?.[1],
      );
    const before = await metrics();
    // Token mode (no client certificate): a Heartbeat closes the connection, unanswered.
    expect(await claimSessionSends({ type: 'Heartbeat', uptimeMs: 1 })).toEqual([]);
    // A claim certificate from the claim CA: a DeployAck closes it too.
    const claim = await platform.api('POST', '/api/v1/claim-certificates', { name: 'claim-1', ttl: '1h' });
    expect(claim.status).toBe(201);
    expect(new crypto.X509Certificate(claim.body.certPem).issuer).toMatch(/Wasmbed Claim CA/);
    expect(
      await claimSessionSends({ type: 'DeployAck', appId: 'x', ok: true, error: null }, claim.body),
    ).toEqual([]);
    expect(await metrics()).toBe(before + 2);
    // And a claim certificate is not a device identity: no session was ever registered for it.
    expect((await platform.api('GET', '/api/v1/devices/claim-1')).status).toBe(404);
  });

  /** The `wasmbed` CLI as an operator runs it. */
  function wasmbed(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'cli', 'main.mjs'), ...args], {
        env: { ...process.env, WASMBED_URL: platform.webUrl },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('enrolls a factory board with a claim certificate, approved from the CLI', async () => {
    const out = path.join(boardsDir, 'factory');
    const made = await wasmbed('claim-cert', 'create', 'factory-1', '--ttl', '1h', '--out', out);
    expect(made.code, made.stderr).toBe(0);
    const [certFile, keyFile] = made.stdout.trim().split('\n');
    expect((fs.statSync(keyFile!).mode & 0o777).toString(8)).toBe('600');
    const ca = await wasmbed('ca');
    expect(ca.stdout.trim()).toBe(fs.readFileSync(caFile, 'utf8').trim());

    const board = startBoard('factory-1', {
      claimCert: ['--claim-cert', certFile!, '--claim-key', keyFile!],
    });
    await waitFor('factory-1 listed by the CLI', async () =>
      /^factory-1\s+[0-9a-f]{64}\s+EC/m.test((await wasmbed('enrollment', 'list')).stdout),
    );
    // -o json: a list as every list of the CLI prints one, {"items": […]}.
    const pending = JSON.parse((await wasmbed('enrollment', 'list', '-o', 'json')).stdout) as {
      items: { name: string }[];
    };
    expect(pending.items.map((e) => e.name)).toContain('factory-1');
    const approved = await wasmbed('enrollment', 'approve', 'factory-1');
    expect(approved).toMatchObject({ code: 0, stdout: 'approved factory-1 (enroll-factory-1)\n' });
    await waitFor(
      'factory-1 Connected',
      async () => (await device('factory-1')).status.phase === 'Connected',
    );
    expect((await device('factory-1')).status.identity.spkiSha256).toBe(spkiOfKey(board.stateDir));
    // The claim certificate is spent; a second approval has nothing to approve.
    expect((await wasmbed('enrollment', 'approve', 'factory-1')).code).toBe(1);
    const list = await wasmbed('enrollment-token', 'list');
    expect(list.stdout).toMatch(/clc-[0-9a-f]+\s+certificate\s+factory-1\s+Enrolled/);
    const tokens = JSON.parse((await wasmbed('enrollment-token', 'list', '-o', 'json')).stdout) as {
      items: { id: string; deviceName?: string; state: string }[];
    };
    expect(tokens.items).toContainEqual(
      expect.objectContaining({
        deviceName: 'factory-1',
        state: 'Enrolled',
        id: expect.stringMatching(/^clc-/),
      }),
    );
  });

  it('rejects a CSR for a name owned by another identity, with the reason', async () => {
    const { token } = await newToken();
    const impostor = startBoard('board-1', { token }); // a new key asking for board-1's name
    expect(await impostor.exited).toBe(1);
    expect(impostor.lines.join('\n')).toMatch(
      /EnrollmentRejected: device name "board-1" is owned by another identity: it is enrolled with key [0-9a-f]{16}/,
    );
    expect((await device('board-1')).status.identity.spkiSha256).toBe(spkiOfKey(first.stateDir));
  });

  it('answers the board with EnrollmentRejected when an operator rejects it in the dashboard', async () => {
    browser = await launchBrowser();
    const page: Page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('dialog', (dialog) => void dialog.accept('not one of our boards'));
    await page.goto(`${platform.webUrl}/enrollments`);
    // Create the token from the page; it is shown once.
    await page.fill('#token-form input[name="ttl"]', '15m');
    await page.click('#token-form button');
    const token = (await page.waitForSelector('pre[data-token]')).textContent();
    const board = startBoard('stranger', { token: (await token)!.trim() });
    const row = await page.waitForSelector('tr[data-enrollment="stranger"]', { timeout: 60_000 });
    expect(await row.textContent()).toContain(spkiOfKey(board.stateDir).slice(0, 4));
    await saveScreenshot(page, 'enrollments-pending');
    await page.click('tr[data-enrollment="stranger"] button[data-action="reject"]');
    expect(await board.exited).toBe(1);
    expect(board.lines.join('\n')).toMatch(/EnrollmentRejected: not one of our boards/);
    await page.waitForSelector('tr[data-enrollment="stranger"]', { state: 'detached' });
    await waitFor(
      'stranger removed',
      async () => (await platform.api('GET', '/api/v1/devices/stranger')).status === 404,
    );
    await saveScreenshot(page, 'enrollments-after-reject');

    // A claim certificate for a factory board, from the page: certificate and key shown once.
    await page.fill('#claim-cert-form input[name="name"]', 'factory-2');
    await page.click('#claim-cert-form button');
    const certPem = await (await page.waitForSelector('pre[data-claim-cert]')).textContent();
    expect(new crypto.X509Certificate(certPem!).subject).toBe('CN=factory-2');
    expect(await page.textContent('pre[data-claim-key]')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    await page.waitForSelector('tr[data-claim^="clc-"] >> text=factory-2');
    await page.reload();
    expect(await page.$('pre[data-claim-key]')).toBeNull(); // not shown again
  });

  it('reconnects the enrolled board with its own certificate after the platform restarts', async () => {
    const serial = (await device('board-1')).status.identity.certSerial;
    for (const kind of ['web', 'gateway', 'orchestrator'] as const) {
      const child = platform.processes.get(kind)!;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    }
    await platform.restartTemporal();
    const connectsBefore = first.lines.filter((l) => /connected to /.test(l)).length;
    await platform.start('gateway');
    await platform.start('orchestrator');
    await platform.start('web');
    await waitFor(
      'board-1 reconnected',
      () => first.lines.filter((l) => /connected to /.test(l)).length > connectsBefore,
    );
    await waitFor('board-1 Connected', async () => (await device('board-1')).status.phase === 'Connected');
    expect((await device('board-1')).status.identity.certSerial).toBe(serial);

    // Power-cycle the board: it comes back from its state dir, with no claim credential at all.
    first.child.kill('SIGTERM');
    await first.exited;
    const again = startBoard('board-1', { stateDir: first.stateDir });
    await waitFor('board-1 connected again', () => again.lines.some((l) => /connected to /.test(l)));
    expect(again.lines.join('\n')).toMatch(/enrolled already; connecting with the certificate/);
    await waitFor('board-1 Connected', async () => (await device('board-1')).status.phase === 'Connected');

    // Deleting it revokes its certificate and ends the session it holds; it cannot come back.
    expect((await platform.api('DELETE', '/api/v1/devices/board-1')).status).toBe(202);
    await waitFor(
      'board-1 gone',
      async () => (await platform.api('GET', '/api/v1/devices/board-1')).status === 404,
    );
    await waitFor('board-1 session closed', () => again.lines.some((l) => /disconnected/.test(l)));
    await waitFor('board-1 refused', () =>
      platform.logs.get('gateway')!.some((l) => /certificate refused/.test(l) && l.includes('"board-1"')),
    );
  });
});
