/**
 * The C firmware (firmware/): its own build + unit tests (ASan/UBSan, shared vectors) +
 * bounded libFuzzer runs via scripts/firmware-test.sh, and the POSIX build of the firmware
 * (mbedTLS) as a real device process against the real gateway over mutual TLS, including
 * claim-based enrollment through the real enrollDevice workflow and API, and in claim mode
 * against a scripted gateway that misbehaves.
 *
 * DeployApplication: that part drives the gateway's own DeviceServer (gateway/device-server.ts,
 * real TLS) in this process and sends the requests through its session handle, exactly as the
 * gateway's activities do, so each reply of the firmware is seen as it comes, without a rollout
 * workflow around it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { buildMemoryImage, type DeviceCredentials } from '../device/memory-contract.js';
import { currentCertificateCheck } from '../gateway/current-certificate.js';
import { DeviceServer } from '../gateway/device-server.js';
import { SessionRegistry } from '../gateway/session-registry.js';
import {
  CertificateAuthority,
  DeviceCertificates,
  SqliteCertificateRepository,
  type KeyType,
} from '../pki/index.js';
import { generatePrivateKey } from '../pki/keys.js';
import { ProtocolConnection } from '../protocol/connection.js';
import type { Envelope, Message } from '../protocol/messages.js';
import { openDatabase } from '../store/sqlite.js';
import { filesHoldingKey } from './support/key-material.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const SCRIPT = path.join(ROOT, 'scripts/firmware-test.sh');
const BUILD = process.env.FIRMWARE_BUILD_DIR ?? path.join(ROOT, 'firmware/build');
const DEVICE_BIN = path.join(BUILD, 'wasmbed-device');

/** A minimal app: imports wasmbed.log, exports _start and a 1-page memory (firmware/tests/fake_platform.c). */
const TEST_MODULE = Buffer.from(
  '0061736d01000000' +
    '010902600' +
    '27f7f00600000' +
    '020f0107' +
    Buffer.from('wasmbed').toString('hex') +
    '03' +
    Buffer.from('log').toString('hex') +
    '0000' +
    '03020101' +
    '0503010001' +
    '07130206' +
    Buffer.from('_start').toString('hex') +
    '000106' +
    Buffer.from('memory').toString('hex') +
    '0200' +
    '0a040102000b',
  'hex',
);

/** Logs "hello from wasm", publishes topic "temp" = [1, 2], then loops calling sleep_ms(50). */
const LOOP_APP = Buffer.from(
  '0061736d0100000001140460027f7f0060017f0060047f7f7f7f00600000023403077761736d626564036c6f670000077761736d62656408736c6565705f6d730001077761736d626564077075626c6973680002030201030503010001071302065f73746172740003066d656d6f727902000a1d011b004100410f1000411041044114410210020340413210010c000b0b0b1c010041000b1668656c6c6f2066726f6d207761736d0074656d700102',
  'hex',
);
/** Logs "hello from wasm", then executes `unreachable`. */
const TRAP_APP = Buffer.from(
  '0061736d0100000001140460027f7f0060017f0060047f7f7f7f00600000023403077761736d626564036c6f670000077761736d62656408736c6565705f6d730001077761736d626564077075626c6973680002030201030503010001071302065f73746172740003066d656d6f727902000a0b0109004100410f1000000b0b1c010041000b1668656c6c6f2066726f6d207761736d0074656d700102',
  'hex',
);

interface DeviceRun {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  text(): string;
}

function runDevice(memoryFile: string, args: string[] = []): DeviceRun {
  return spawnDevice(['--memory', memoryFile, ...args]);
}

function spawnDevice(args: string[]): DeviceRun {
  const child = spawn(DEVICE_BIN, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' },
  });
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line) continue;
      output.push(line);
      if (process.env.WASMBED_TEST_VERBOSE) process.stderr.write(`[fw] ${line}\n`);
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output, exited, text: () => output.join('\n') };
}

async function stopDevice(run: DeviceRun): Promise<number | null> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
  return run.exited;
}

function statsOf(run: DeviceRun): Record<string, number> {
  const line = run.output.find((l) => l.includes('] stats '));
  if (!line) return {};
  return Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

/** Builds (incrementally) so a binary from an older checkout is never what runs. */
function ensureBuilt(): void {
  const built = spawnSync('bash', [SCRIPT, '--build-only'], { encoding: 'utf8', timeout: 300_000 });
  if (built.status !== 0) throw new Error(`firmware build failed:\n${built.stdout}\n${built.stderr}`);
}

describe('firmware: build, unit tests under ASan/UBSan, fuzzing', () => {
  it('scripts/firmware-test.sh passes (vectors, state machine, gcc and clang -Werror, Cortex-M3/M4/M7 compile, libFuzzer)', () => {
    const started = Date.now();
    const result = spawnSync('bash', [SCRIPT], {
      encoding: 'utf8',
      timeout: 400_000,
      env: { ...process.env, FUZZ_SECONDS: process.env.FUZZ_SECONDS ?? '30' },
    });
    const output = `${result.stdout}\n${result.stderr}`;
    if (result.status !== 0) console.error(output);
    expect(result.status, output.slice(-4000)).toBe(0);
    expect(output).toContain('ALL FIRMWARE UNIT TESTS PASSED');
    expect(output).toMatch(/valid message vectors\s+\d+/);
    expect(output).toMatch(/invalid message vectors\s+\d+/);
    expect(output).toContain('gcc: ok');
    for (const cpu of ['cortex-m3', 'cortex-m4', 'cortex-m7']) expect(output).toContain(`${cpu}: ok`);
    expect(output).toMatch(/fuzz_decode: \d+ inputs, no findings/);
    expect(output).toMatch(/fuzz_blocks: \d+ inputs, no findings/);
    expect(output).toContain('FIRMWARE TESTS PASSED');
    console.log(`firmware-test.sh: ${Math.round((Date.now() - started) / 1000)} s`);
  }, 420_000);
});

describe('POSIX firmware against the real gateway (mutual TLS)', () => {
  let platform: TestPlatform;
  let ca: CertificateAuthority;
  let tmp: string;
  const running: DeviceRun[] = [];

  beforeAll(async () => {
    ensureBuilt();
    platform = await startTestPlatform();
    ca = await CertificateAuthority.loadOrCreate(paths.pki(platform.home));
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-fw-'));
  }, 400_000);

  afterAll(async () => {
    await Promise.all(running.map(stopDevice));
    await platform?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Credentials as provisioning makes them: the device's own key (P-256 unless told), certified by the CA. */
  async function issue(name: string, keyType: KeyType = 'p256'): Promise<DeviceCredentials> {
    const key = generatePrivateKey(keyType);
    const publicKeyPem = crypto.createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
    const db = openDatabase(paths.db(platform.home));
    try {
      const record = await new DeviceCertificates(ca, new SqliteCertificateRepository(db)).issue(name, {
        publicKeyPem,
      });
      return {
        certPem: record.certPem,
        keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
        caPem: ca.certPem,
      };
    } finally {
      db.close();
    }
  }

  function memoryImage(name: string, endpoint: string, credentials: DeviceCredentials): string {
    const file = path.join(tmp, `${name}.memory.bin`);
    fs.writeFileSync(file, buildMemoryImage(endpoint, credentials));
    return file;
  }

  async function sessions(): Promise<string[]> {
    const res = await fetch(`${platform.gatewayHealthUrl}/healthz`);
    return ((await res.json()) as { devices: string[] }).devices;
  }

  it('connects with a platform certificate, says Hello, and keeps its session with heartbeats', async () => {
    const name = 'fw-posix-1';
    const image = memoryImage(name, `127.0.0.1:${platform.gatewayPort}`, await issue(name));
    const device = runDevice(image);
    running.push(device);

    await waitFor(`${name} to hold a gateway session`, async () => (await sessions()).includes(name), 30_000);
    expect(device.text()).toContain('mutual TLS session up; sending Hello (DeviceInfo)');
    // The test platform's gateway closes a session after 3000 ms without a heartbeat
    // (interval 500 ms): still being there well after that proves heartbeats arrive.
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    expect(await sessions()).toContain(name);
    expect(device.child.exitCode).toBeNull();

    const code = await stopDevice(device);
    expect(code).toBe(0);
    const stats = statsOf(device);
    expect(stats.connects).toBe(1);
    expect(stats.protocol_errors).toBe(0);
    // every heartbeat is answered with a HeartbeatAck; 500 ms interval over > 4.5 s
    expect(stats.heartbeat_acks).toBeGreaterThanOrEqual(6);
    expect(stats.heartbeats_sent).toBeGreaterThanOrEqual(stats.heartbeat_acks!);
    await waitFor(`${name} session to go away`, async () => !(await sessions()).includes(name), 10_000);
  }, 120_000);

  it('connects with an RSA-2048 device key too (a device created with one)', async () => {
    const name = 'fw-posix-rsa';
    const credentials = await issue(name, 'rsa2048');
    expect(new crypto.X509Certificate(credentials.certPem).publicKey.asymmetricKeyType).toBe('rsa');
    const device = runDevice(memoryImage(name, `127.0.0.1:${platform.gatewayPort}`, credentials));
    running.push(device);
    await waitFor(`${name} to hold a gateway session`, async () => (await sessions()).includes(name), 30_000);
    expect(device.text()).toContain('mutual TLS session up; sending Hello (DeviceInfo)');
    expect(await stopDevice(device)).toBe(0);
    expect(statsOf(device)).toMatchObject({ connects: 1, protocol_errors: 0 });
    await waitFor(`${name} session to go away`, async () => !(await sessions()).includes(name), 10_000);
  }, 120_000);

  it('is refused with a certificate from another CA, and never gets a session', async () => {
    const name = 'fw-impostor';
    const otherCa = await CertificateAuthority.loadOrCreate(path.join(tmp, 'other-ca'));
    const issued = otherCa.issueClientCertificate({ commonName: name });
    const image = memoryImage(name, `127.0.0.1:${platform.gatewayPort}`, {
      certPem: issued.certPem,
      keyPem: issued.keyPem!,
      caPem: ca.certPem, // it trusts the real gateway; the gateway does not trust it
    });
    const device = runDevice(image, ['--max-connect-failures', '2']);
    running.push(device);
    const code = await device.exited;
    expect(code, device.text()).toBe(4);
    expect(device.text()).toMatch(/connect failed: TLS handshake/);
    expect(device.text()).not.toContain('session up');
    expect(await sessions()).not.toContain(name);
  }, 60_000);

  it('refuses a gateway its CA did not sign', async () => {
    const name = 'fw-wrong-ca';
    const credentials = await issue(name);
    const otherCa = await CertificateAuthority.loadOrCreate(path.join(tmp, 'other-ca-2'));
    const image = memoryImage(name, `127.0.0.1:${platform.gatewayPort}`, {
      ...credentials,
      caPem: otherCa.certPem,
    });
    const device = runDevice(image, ['--max-connect-failures', '2']);
    running.push(device);
    expect(await device.exited, device.text()).toBe(4);
    expect(device.text()).toContain('gateway certificate not trusted');
    expect(await sessions()).not.toContain(name);
  }, 60_000);

  it('refuses an invalid memory image without dialling', async () => {
    const name = 'fw-garbage';
    const file = memoryImage(name, `127.0.0.1:${platform.gatewayPort}`, await issue(name));
    const bytes = fs.readFileSync(file);
    bytes.writeUInt8(bytes.readUInt8(0x1000 + 9) ^ 0xff, 0x1000 + 9); // in the endpoint text: CRC no longer matches
    fs.writeFileSync(file, bytes);
    const device = runDevice(file);
    running.push(device);
    expect(await device.exited).toBe(3);
    expect(device.text()).toContain('endpoint block at 0x20001000: CRC mismatch; not dialling');
  }, 30_000);

  describe('claim-based enrollment (a real board: its own key, a claim token)', () => {
    let caFile: string;
    const device = async (name: string) => (await platform.api('GET', `/api/v1/devices/${name}`)).body;
    const newToken = async () => {
      const res = await platform.api('POST', '/api/v1/enrollment-tokens', { ttl: '10m' });
      expect(res.status).toBe(201);
      return res.body as { id: string; token: string };
    };
    const pending = async (name: string) =>
      (
        (await platform.api('GET', '/api/v1/enrollments')).body.items as {
          name: string;
          csrFingerprint: string;
          keyType: string;
          claim: string;
        }[]
      ).find((e) => e.name === name);
    const claimSessionsClosed = async () =>
      Number(
        /wasmbed_gateway_enrollment_sessions_closed_total\{[^}]*\} (\d+)/.exec(
          await (await fetch(`${platform.gatewayHealthUrl}/metrics`)).text(),
        )?.[1] ?? NaN,
      );
    /** The board: `wasmbed-device` with the flags of `npx wasmbed-device`. */
    const board = (name: string, stateDir: string, extra: string[] = []) => {
      const run = spawnDevice([
        '--gateway',
        `127.0.0.1:${platform.gatewayPort}`,
        '--name',
        name,
        '--state-dir',
        stateDir,
        ...extra,
      ]);
      running.push(run);
      return run;
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
      // What an operator hands to a board: the CA as the platform publishes it.
      const res = await fetch(`${platform.webUrl}/api/v1/pki/ca.pem`);
      expect(res.status).toBe(200);
      caFile = path.join(tmp, 'platform-ca.pem');
      fs.writeFileSync(caFile, await res.text());
    });

    it('token → pending → approve → Connected with its own certificate; no key on the platform; a restart does not enroll again', async () => {
      const name = 'fw-board-1';
      const stateDir = path.join(tmp, name);
      const { token, id } = await newToken();
      const closedBefore = await claimSessionsClosed();
      const first = board(name, stateDir, ['--ca', caFile, '--claim-token', token]);

      const request = await waitFor(`${name} pending`, () => pending(name), 30_000);
      expect(fs.statSync(path.join(stateDir, 'device.key')).mode & 0o777).toBe(0o600);
      const fingerprint = spkiOfKey(stateDir);
      // The operator compares the fingerprint the board prints with the pending request.
      expect(first.text()).toContain(`board ${name}: key fingerprint ${fingerprint}; enrolling`);
      expect(request).toMatchObject({ csrFingerprint: fingerprint, keyType: 'EC prime256v1', claim: id });
      expect((await device(name)).status).toMatchObject({ phase: 'Pending' });
      // Waiting, the board sends nothing else: the gateway would close a claim session that did.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(await claimSessionsClosed()).toBe(closedBefore);
      expect(first.text().match(/EnrollmentRequest \d+ sent/g)).toHaveLength(1);
      expect(first.text()).not.toContain('session closed');
      expect(fs.existsSync(path.join(stateDir, 'device.crt'))).toBe(false);

      const approved = await platform.api('POST', `/api/v1/enrollments/${name}/approve`);
      expect(approved.status).toBe(202);
      await waitFor(
        `${name} Connected`,
        async () => (await device(name)).status.phase === 'Connected',
        60_000,
      );
      const connected = await device(name);
      expect(connected.status.identity.spkiSha256).toBe(fingerprint);
      expect(first.text()).toContain('enrolled: device certificate stored; reconnecting with it');
      expect(first.text()).toContain('mutual TLS session up; sending Hello (DeviceInfo)');
      const cert = new crypto.X509Certificate(fs.readFileSync(path.join(stateDir, 'device.crt')));
      expect(cert.subject).toBe(`CN=${name}`);
      expect(
        cert.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(path.join(stateDir, 'device.key')))),
      ).toBe(true);
      expect(cert.verify(new crypto.X509Certificate(fs.readFileSync(caFile)).publicKey)).toBe(true);

      // The platform never had the private key: not in its certificate table, not in any file.
      const db = openDatabase(paths.db(platform.home));
      const rows = db.prepare('SELECT key_pem FROM certificates WHERE device_name = ?').all(name);
      db.close();
      expect(rows).toEqual([{ key_pem: null }]);
      const keyPem = fs.readFileSync(path.join(stateDir, 'device.key'), 'utf8');
      const scan = filesHoldingKey(platform.home, keyPem);
      expect(scan.scanned.some((f) => f.endsWith('wasmbed.db'))).toBe(true);
      expect(scan.holding).toEqual([]);

      expect(await stopDevice(first)).toBe(0);
      expect(statsOf(first)).toMatchObject({
        enroll_requests: 1,
        enrollments_accepted: 1,
        protocol_errors: 0,
      });
      await waitFor(`${name} session to go away`, async () => !(await sessions()).includes(name), 15_000);

      // Powered on again: the state dir has key + certificate, so no claim flags, no enrollment.
      const again = board(name, stateDir);
      await waitFor(`${name} back`, async () => (await sessions()).includes(name), 30_000);
      expect(again.text()).toContain(`board ${name}: enrolled already`);
      expect(again.text()).not.toContain('claim mode');
      expect(await stopDevice(again)).toBe(0);
      expect(statsOf(again)).toMatchObject({ enroll_requests: 0, connects: 1 });
      expect(fs.readFileSync(path.join(stateDir, 'device.key'), 'utf8')).toBe(keyPem);
    }, 180_000);

    it('enrolls with a claim certificate from the claim CA instead of a token', async () => {
      const name = 'fw-factory-1';
      const stateDir = path.join(tmp, name);
      const claim = await platform.api('POST', '/api/v1/claim-certificates', { name, ttl: '1h' });
      expect(claim.status).toBe(201);
      const certFile = path.join(tmp, `${name}.claim.crt`);
      const keyFile = path.join(tmp, `${name}.claim.key`);
      fs.writeFileSync(certFile, claim.body.certPem);
      fs.writeFileSync(keyFile, claim.body.keyPem, { mode: 0o600 });
      const run = board(name, stateDir, ['--ca', caFile, '--claim-cert', certFile, '--claim-key', keyFile]);
      expect(await waitFor(`${name} pending`, () => pending(name), 30_000)).toMatchObject({
        csrFingerprint: spkiOfKey(stateDir),
      });
      expect(run.text()).toContain(`enrolling as ${name} with a claim certificate`);
      expect((await platform.api('POST', `/api/v1/enrollments/${name}/approve`)).status).toBe(202);
      await waitFor(
        `${name} Connected`,
        async () => (await device(name)).status.phase === 'Connected',
        60_000,
      );
      expect((await device(name)).status.identity.spkiSha256).toBe(spkiOfKey(stateDir));
      expect(await stopDevice(run)).toBe(0);
      expect(statsOf(run)).toMatchObject({ enroll_requests: 1, enrollments_accepted: 1 });
    }, 90_000);

    it('logs the reason of a rejection and waits before asking again', async () => {
      const name = 'fw-board-2';
      const stateDir = path.join(tmp, name);
      const { token } = await newToken();
      const run = board(name, stateDir, ['--ca', caFile, '--claim-token', token]);
      await waitFor(`${name} pending`, () => pending(name), 30_000);
      const rejected = await platform.api('POST', `/api/v1/enrollments/${name}/reject`, {
        reason: 'unknown serial number',
      });
      expect(rejected.status).toBe(202);
      await waitFor(
        `${name} rejection logged`,
        () => run.text().includes('asking to enroll again in 60 s'),
        30_000,
      );
      expect(run.text()).toContain('enrollment rejected: unknown serial number');
      // It does not hammer the gateway: no second request within the next seconds.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(await stopDevice(run)).toBe(0);
      expect(statsOf(run)).toMatchObject({ enroll_requests: 1, enrollments_rejected: 1, connects: 1 });
      expect(fs.existsSync(path.join(stateDir, 'device.crt'))).toBe(false);
    }, 90_000);
  });

  it.each([
    ['the default runtime (WAMR when its sources were found at build time)', 'fw-deploy-1', [] as string[]],
    ['the stand-in runtime', 'fw-deploy-2', ['--wasm', 'standin']],
  ])(
    'receives DeployApplication, acks it, reports status, and stops apps, with %s',
    async (_label, name, extraArgs) => {
      const registry = new SessionRegistry();
      const server = ca.issueServerCertificate({
        commonName: 'fw-test-gateway',
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
      });
      const db = openDatabase(paths.db(platform.home));
      const repo = new SqliteCertificateRepository(db);
      const fromDevice: Message[] = [];
      const deviceServer = new DeviceServer({
        onDeviceMessage: (_session, envelope) => fromDevice.push(envelope.body),
        tls: { certPem: server.certPem, keyPem: server.keyPem!, caPem: ca.certPem },
        registry,
        // The gateway's own admission rule (serials compared without leading zeros).
        isCurrentCertificate: currentCertificateCheck(new DeviceCertificates(ca, repo)),
        heartbeatIntervalMs: 500,
        heartbeatTimeoutMs: 3_000,
        logger: createLogger('fw-test-gateway'),
      });
      const port = await deviceServer.listen('127.0.0.1', 0);
      try {
        const image = memoryImage(name, `localhost:${port}`, await issue(name));
        const device = runDevice(image, extraArgs);
        running.push(device);
        const session = await waitFor(`${name} session`, () => registry.get(name), 30_000);
        expect(session.info.deviceInfo?.mcuType).toBe('Stm32F746gDisco');

        const deploy = (appId: string, module: Uint8Array, entry = '_start'): Promise<Message> =>
          session.request(
            {
              type: 'DeployApplication',
              appId,
              name: 'blink',
              module,
              entry,
              limits: { memoryPages: 1, cpuMsPerCall: 100 },
              env: { LOG: 'debug' },
              args: ['--fast'],
            },
            { timeoutMs: 10_000 },
          );

        // With WAMR apps execute (log, publish, trap); the stand-in only validates them.
        const wamr = device.text().includes('wasm runtime: wamr');
        console.log(`POSIX firmware wasm runtime: ${wamr ? 'WAMR' : 'stand-in'}`);

        expect(await deploy('app-1', TEST_MODULE)).toEqual({
          type: 'DeployAck',
          appId: 'app-1',
          ok: true,
          error: null,
        });
        // TEST_MODULE's _start returns at once: Exited under WAMR, Running under the stand-in
        const status = await waitFor(
          'app-1 status',
          async () => {
            const reply = await session.request(
              { type: 'RequestApplicationStatus', appId: null },
              { timeoutMs: 5_000 },
            );
            return (
              reply.type === 'ApplicationStatus' &&
              reply.apps[0]?.state === (wamr ? 'Exited' : 'Running') &&
              reply
            );
          },
          10_000,
        );
        expect(status).toEqual({
          type: 'ApplicationStatus',
          apps: [{ appId: 'app-1', state: wamr ? 'Exited' : 'Running', error: null, restarts: 0 }],
        });

        const refused = await deploy('app-bad', Buffer.from('not wasm at all'));
        expect(refused).toMatchObject({ type: 'DeployAck', appId: 'app-bad', ok: false });
        expect((refused as { error: string }).error).toMatch(/magic/);

        const info = await session.request({ type: 'RequestDeviceInfo' }, { timeoutMs: 5_000 });
        expect(info).toMatchObject({ type: 'DeviceInfo', mcuType: 'Stm32F746gDisco', maxAppSize: 65536 });

        expect(
          await session.request({ type: 'StopApplication', appId: 'app-1' }, { timeoutMs: 5_000 }),
        ).toEqual({
          type: 'StopAck',
          appId: 'app-1',
          ok: true,
          error: null,
        });
        const unknown = await session.request(
          { type: 'StopApplication', appId: 'app-1' },
          { timeoutMs: 5_000 },
        );
        expect(unknown).toMatchObject({ type: 'StopAck', ok: false });

        expect(await deploy('app-loop', LOOP_APP)).toMatchObject({ type: 'DeployAck', ok: true });
        expect(await deploy('app-trap', TRAP_APP)).toMatchObject({ type: 'DeployAck', ok: true });
        if (wamr) {
          await waitFor(
            'the app log and publish',
            () =>
              fromDevice.some(
                (m) => m.type === 'Log' && m.appId === 'app-loop' && m.message === 'hello from wasm',
              ) &&
              fromDevice.some(
                (m) =>
                  m.type === 'Publish' &&
                  m.appId === 'app-loop' &&
                  m.topic === 'temp' &&
                  Buffer.from(m.data).equals(Buffer.from([1, 2])),
              ),
            10_000,
          );
          const failed = await waitFor(
            'app-trap to be reported Failed',
            () =>
              fromDevice.find(
                (m) =>
                  m.type === 'ApplicationStatus' &&
                  m.apps.some((a) => a.appId === 'app-trap' && a.state === 'Failed'),
              ),
            10_000,
          );
          expect(JSON.stringify(failed)).toMatch(/unreachable/);
        } else {
          await waitFor(
            'the stand-in log',
            () =>
              fromDevice.some(
                (m) => m.type === 'Log' && m.appId === 'app-loop' && /stand-in runtime/.test(m.message),
              ),
            10_000,
          );
        }
        const statuses = await session.request(
          { type: 'RequestApplicationStatus', appId: null },
          { timeoutMs: 5_000 },
        );
        expect(statuses).toMatchObject({
          type: 'ApplicationStatus',
          apps: expect.arrayContaining([
            expect.objectContaining({ appId: 'app-loop', state: 'Running' }),
            expect.objectContaining({ appId: 'app-trap', state: wamr ? 'Failed' : 'Running' }),
          ]),
        });
        // the looping app sleeps in the host API, so it stops at once
        expect(
          await session.request({ type: 'StopApplication', appId: 'app-loop' }, { timeoutMs: 10_000 }),
        ).toMatchObject({
          type: 'StopAck',
          ok: true,
        });

        expect(await stopDevice(device)).toBe(0);
        expect(statsOf(device)).toMatchObject({
          deploys_ok: 3,
          deploys_failed: 1,
          stops: 2,
          protocol_errors: 0,
        });
      } finally {
        await deviceServer.close();
        db.close();
      }
    },
    120_000,
  );
});

/**
 * The device's side of a certificate it must not keep. The real gateway only ever issues a
 * certificate for the CSR's key, so a scripted TLS endpoint stands in for a gateway that
 * answers EnrollmentAccepted with somebody else's certificate.
 */
describe('POSIX firmware in claim mode against a misbehaving gateway', () => {
  let tmp: string;
  let server: tls.Server | undefined;
  let run: DeviceRun | undefined;

  beforeAll(() => {
    ensureBuilt();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-fw-claim-'));
  }, 400_000);
  afterAll(async () => {
    if (run) await stopDevice(run);
    server?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('refuses a certificate that is not for its key, keeps nothing and backs off', async () => {
    const ca = await CertificateAuthority.loadOrCreate(path.join(tmp, 'ca'));
    const gatewayCert = ca.issueServerCertificate({
      commonName: 'fw-claim-gateway',
      dnsNames: [],
      ipAddresses: ['127.0.0.1'],
    });
    const wrong = ca.issueClientCertificate({ commonName: 'fw-board-x' }); // its own, other key
    const sessions: { alpn: string | false | null; clientCert: boolean; received: Envelope[] }[] = [];
    server = tls.createServer(
      {
        cert: gatewayCert.certPem,
        key: gatewayCert.keyPem!,
        requestCert: true,
        rejectUnauthorized: false,
        ALPNProtocols: ['wasmbed-enroll'],
      },
      (socket) => {
        const session = {
          alpn: socket.alpnProtocol,
          clientCert: Object.keys(socket.getPeerCertificate()).length > 0,
          received: [] as Envelope[],
        };
        sessions.push(session);
        const connection = new ProtocolConnection(socket, {}, 'device');
        connection.on('message', (envelope: Envelope) => {
          session.received.push(envelope);
          if (envelope.body.type !== 'EnrollmentRequest') return;
          connection.send(
            {
              type: 'EnrollmentAccepted',
              certificateDer: new Uint8Array(new crypto.X509Certificate(wrong.certPem).raw),
              caCertificateDer: new Uint8Array(new crypto.X509Certificate(ca.certPem).raw),
            },
            envelope.messageId,
          );
        });
        socket.on('error', () => {});
      },
    );
    const port = await new Promise<number>((resolve) =>
      server!.listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port)),
    );
    const caFile = path.join(tmp, 'ca.pem');
    fs.writeFileSync(caFile, ca.certPem);
    const stateDir = path.join(tmp, 'state');
    run = spawnDevice([
      '--gateway',
      `127.0.0.1:${port}`,
      '--ca',
      caFile,
      '--name',
      'fw-board-x',
      '--claim-token',
      'wbt_test',
      '--state-dir',
      stateDir,
    ]);
    await waitFor('the refusal', () => run!.text().includes('asking to enroll again in 60 s'), 30_000);
    expect(run.text()).toContain("the certificate is not for this device's key");
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ alpn: 'wasmbed-enroll', clientCert: false });
    expect(sessions[0]!.received.map((e) => e.body.type)).toEqual(['EnrollmentRequest']);
    expect(sessions[0]!.received[0]!.body).toMatchObject({ claimToken: 'wbt_test' });
    expect(fs.readdirSync(stateDir)).toEqual(['device.key']);
    // No second attempt before the rejection backoff (60 s) runs out.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await stopDevice(run)).toBe(0);
    expect(sessions).toHaveLength(1);
    expect(statsOf(run)).toMatchObject({ connects: 1, enroll_requests: 1, enrollments_accepted: 0 });
  }, 60_000);
});
