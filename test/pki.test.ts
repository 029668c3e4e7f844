import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import forge from 'node-forge';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../common/errors.js';
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  CertificateAuthority,
  DeviceCertificates,
  PkiError,
  SqliteCertificateRepository,
  inspectCertificate,
  serialHex,
  spkiSha256FromDer,
  spkiSha256FromPublicKey,
  type CertificateRecord,
} from '../pki/index.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const DAY_MS = 86_400_000;
const tempDirs: string[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-pki-'));
  tempDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

function openDb(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('busy_timeout = 10000');
  db.pragma('journal_mode = WAL');
  return db;
}

/** The key identifier bytes inside an AKI/SKI extension, parsed with forge's ASN.1 (independent of pki/). */
function extensionKeyId(
  cert: forge.pki.Certificate,
  name: 'subjectKeyIdentifier' | 'authorityKeyIdentifier',
): string {
  const ext = cert.getExtension(name) as { value: string } | null;
  if (!ext) throw new Error(`no ${name}`);
  const node = forge.asn1.fromDer(ext.value);
  const bytes = name === 'subjectKeyIdentifier' ? node.value : (node.value as forge.asn1.Asn1[])[0]?.value;
  return Buffer.from(bytes as string, 'binary').toString('hex');
}

/** The signatureAlgorithm OID of a PEM certificate, read with forge's ASN.1 (independent of pki/). */
function signatureOid(pem: string): string {
  const asn1 = forge.asn1.fromDer(forge.pem.decode(pem)[0]!.body);
  const algorithm = (asn1.value as forge.asn1.Asn1[])[1]!;
  const oid = (algorithm.value as forge.asn1.Asn1[])[0]!.value as string;
  return forge.asn1.derToOid(oid);
}

function expectPkiError(fn: () => Promise<unknown>, code: string, file: string): Promise<PkiError>;
function expectPkiError(fn: () => unknown, code: string, file: string): PkiError;
function expectPkiError(fn: () => unknown, code: string, file: string): PkiError | Promise<PkiError> {
  const check = (err: unknown): PkiError => {
    expect(err).toBeInstanceOf(PkiError);
    const e = err as PkiError;
    expect(e.code).toBe(code);
    expect(e.file).toBe(file);
    expect(e.message).toContain(file);
    return e;
  };
  try {
    const result = fn();
    if (result instanceof Promise) {
      return result.then(
        () => {
          throw new Error('expected a PkiError');
        },
        (err: unknown) => check(err),
      );
    }
  } catch (err) {
    return check(err);
  }
  throw new Error('expected a PkiError');
}

describe('CertificateAuthority', () => {
  it('creates a private CA directory with ca.crt 0644 and ca.key 0600, then reloads the same CA', async () => {
    const dir = path.join(tempDir(), 'nested', 'ca');
    // Most permissive umask: the modes must still be exact. (Worker threads cannot change the
    // umask; the child-process test below covers umasks 000 and 077 in any case.)
    let previous: number | undefined;
    try {
      previous = process.umask(0o000);
    } catch {
      previous = undefined;
    }
    let ca: CertificateAuthority;
    try {
      ca = await CertificateAuthority.loadOrCreate(dir, { commonName: 'Test Device CA' });
    } finally {
      if (previous !== undefined) process.umask(previous);
    }
    expect(mode(dir)).toBe(0o700);
    expect(mode(path.join(dir, CA_CERT_FILE))).toBe(0o644);
    expect(mode(path.join(dir, CA_KEY_FILE))).toBe(0o600);
    expect(fs.readdirSync(dir).sort()).toEqual([CA_CERT_FILE, CA_KEY_FILE]);
    expect(fs.readFileSync(path.join(dir, CA_CERT_FILE), 'utf8')).toBe(ca.certPem);

    const again = await CertificateAuthority.loadOrCreate(dir, { commonName: 'ignored when it exists' });
    expect(again.certPem).toBe(ca.certPem);
    expect(again.commonName).toBe('Test Device CA');
    const loaded = await CertificateAuthority.load(dir);
    expect(loaded.serial).toBe(ca.serial);
    // A certificate issued by the first instance verifies under the reloaded one.
    const leaf = ca.issueClientCertificate({ commonName: 'dev-a' });
    expect(again.isIssuerOf(leaf.certPem)).toBe(true);
  });

  it('has the CA extensions: CA:TRUE pathlen 0, keyCertSign+cRLSign, SKI, 10 years', async () => {
    const before = Date.now();
    const ca = await CertificateAuthority.loadOrCreate(tempDir());
    const after = Date.now(); // key generation can take seconds on a loaded machine
    const x509 = new crypto.X509Certificate(ca.certPem);
    expect(x509.ca).toBe(true);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.subject).toBe('O=Wasmbed\nCN=Wasmbed Device CA');

    const cert = forge.pki.certificateFromPem(ca.certPem);
    const bc = cert.getExtension('basicConstraints') as {
      cA: boolean;
      pathLenConstraint: number;
      critical: boolean;
    };
    expect(bc).toMatchObject({ cA: true, pathLenConstraint: 0, critical: true });
    const ku = cert.getExtension('keyUsage') as Record<string, boolean>;
    expect(ku).toMatchObject({ critical: true, keyCertSign: true, cRLSign: true, digitalSignature: false });
    // SKI is the RFC 5280 method-1 hash (what forge and OpenSSL compute).
    expect(extensionKeyId(cert, 'subjectKeyIdentifier')).toBe(cert.generateSubjectKeyIdentifier().toHex());
    expect((cert.publicKey as forge.pki.rsa.PublicKey).n.bitLength()).toBe(2048);

    expect(ca.notBefore.getTime()).toBeGreaterThanOrEqual(before - 5 * 60_000 - 1000);
    expect(ca.notBefore.getTime()).toBeLessThanOrEqual(after - 5 * 60_000);
    const years = (ca.notAfter.getTime() - ca.notBefore.getTime()) / (365 * DAY_MS);
    expect(years).toBeGreaterThan(9.99);
    expect(years).toBeLessThan(10.01);
  });

  it('two concurrent loadOrCreate calls in one process agree on one CA (the link race)', async () => {
    const dir = tempDir();
    // Both generate a key asynchronously before either publishes: one link(2) wins, the other adopts it.
    const [a, b, c] = await Promise.all([
      CertificateAuthority.loadOrCreate(dir),
      CertificateAuthority.loadOrCreate(dir),
      CertificateAuthority.loadOrCreate(dir),
    ]);
    expect(b.certPem).toBe(a.certPem);
    expect(c.certPem).toBe(a.certPem);
    expect(fs.readdirSync(dir).sort()).toEqual([CA_CERT_FILE, CA_KEY_FILE]); // no temp files left
  });

  it('concurrent processes on a fresh directory and database end up with one CA and one device certificate', async () => {
    const root = tempDir();
    const caDir = path.join(root, 'ca');
    const dbFile = path.join(root, 'store.db');
    const script = path.join(root, 'child.mts');
    fs.writeFileSync(
      script,
      `
import { createRequire } from 'node:module';
const [caDir, dbFile, startAt, umask] = process.argv.slice(2);
process.umask(parseInt(umask, 8));
const require = createRequire(${JSON.stringify(path.join(repoRoot, 'package.json'))});
const Database = require('better-sqlite3');
const pki = await import(${JSON.stringify(pathToFileURL(path.join(repoRoot, 'pki/index.js')).href)});
while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 2));
const ca = await pki.CertificateAuthority.loadOrCreate(caDir);
const db = new Database(dbFile);
db.pragma('busy_timeout = 10000');
db.pragma('journal_mode = WAL');
const rec = await new pki.DeviceCertificates(ca, new pki.SqliteCertificateRepository(db)).issue('dev-race');
db.close();
process.stdout.write(JSON.stringify({ caPem: ca.certPem, serial: rec.serial }));
`,
    );
    const startAt = Date.now() + 3000;
    const run = (umask: string) =>
      new Promise<{ caPem: string; serial: string }>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', script, caDir, dbFile, String(startAt), umask],
          {
            cwd: repoRoot,
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => {
          if (code === 0) resolve(JSON.parse(out) as { caPem: string; serial: string });
          else reject(new Error(`child exited ${code}: ${err}`));
        });
      });
    const results = await Promise.all([run('000'), run('077'), run('022')]);
    const [first, ...rest] = results;
    for (const r of rest) {
      expect(r.caPem).toBe(first!.caPem);
      expect(r.serial).toBe(first!.serial);
    }
    expect(fs.readdirSync(caDir).sort()).toEqual([CA_CERT_FILE, CA_KEY_FILE]);
    expect(mode(caDir)).toBe(0o700);
    expect(mode(path.join(caDir, CA_CERT_FILE))).toBe(0o644);
    expect(mode(path.join(caDir, CA_KEY_FILE))).toBe(0o600);
    const db = openDb(dbFile);
    try {
      const repo = new SqliteCertificateRepository(db);
      expect(await repo.countActive('dev-race')).toBe(1);
      expect(await repo.listForDevice('dev-race')).toHaveLength(1);
    } finally {
      db.close();
    }
  }, 60_000);

  it('refuses a corrupt key file, naming it, and leaves it in place', async () => {
    const dir = tempDir();
    await CertificateAuthority.loadOrCreate(dir);
    const keyPath = path.join(dir, CA_KEY_FILE);
    fs.writeFileSync(keyPath, '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n');
    const certBefore = fs.readFileSync(path.join(dir, CA_CERT_FILE), 'utf8');
    const err = await expectPkiError(() => CertificateAuthority.loadOrCreate(dir), 'PkiCaCorrupt', keyPath);
    expect(err.cause).toBeDefined();
    expect(fs.readFileSync(keyPath, 'utf8')).toContain('not a key');
    expect(fs.readFileSync(path.join(dir, CA_CERT_FILE), 'utf8')).toBe(certBefore);
  });

  it('refuses a corrupt certificate file, naming it', async () => {
    const dir = tempDir();
    await CertificateAuthority.loadOrCreate(dir);
    const certPath = path.join(dir, CA_CERT_FILE);
    fs.writeFileSync(certPath, 'garbage');
    await expectPkiError(() => CertificateAuthority.loadOrCreate(dir), 'PkiCaCorrupt', certPath);
    await expectPkiError(() => CertificateAuthority.load(dir), 'PkiCaCorrupt', certPath);
  });

  it('refuses a key that does not match the certificate, naming the key', async () => {
    const dir = tempDir();
    const other = tempDir();
    await Promise.all([CertificateAuthority.loadOrCreate(dir), CertificateAuthority.loadOrCreate(other)]);
    const keyPath = path.join(dir, CA_KEY_FILE);
    fs.copyFileSync(path.join(other, CA_KEY_FILE), keyPath);
    const err = await expectPkiError(() => CertificateAuthority.loadOrCreate(dir), 'PkiCaCorrupt', keyPath);
    expect(err.message).toContain('does not match');
  });

  it('refuses a certificate whose key is missing instead of creating a new CA', async () => {
    const dir = tempDir();
    const ca = await CertificateAuthority.loadOrCreate(dir);
    const keyPath = path.join(dir, CA_KEY_FILE);
    fs.rmSync(keyPath);
    await expectPkiError(() => CertificateAuthority.loadOrCreate(dir), 'PkiCaKeyMissing', keyPath);
    expect(fs.existsSync(keyPath)).toBe(false);
    expect(fs.readFileSync(path.join(dir, CA_CERT_FILE), 'utf8')).toBe(ca.certPem);
  });

  it('completes a key left without a certificate from that same key (crash between the two links)', async () => {
    const dir = tempDir();
    const ca = await CertificateAuthority.loadOrCreate(dir);
    const leaf = ca.issueClientCertificate({ commonName: 'dev-old' });
    fs.rmSync(path.join(dir, CA_CERT_FILE));
    const completed = await CertificateAuthority.loadOrCreate(dir);
    expect(completed.spkiSha256).toBe(ca.spkiSha256);
    expect(completed.certPem).not.toBe(ca.certPem);
    expect(completed.isIssuerOf(leaf.certPem)).toBe(true); // same key, name and key identifier
  });

  it('reports a missing CA from load() without creating one', async () => {
    const dir = tempDir();
    await expectPkiError(() => CertificateAuthority.load(dir), 'PkiStorage', path.join(dir, CA_CERT_FILE));
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('issues a gateway server certificate with SANs, serverAuth and an AKI matching the CA', async () => {
    const ca = await CertificateAuthority.loadOrCreate(tempDir());
    const before = Date.now();
    const issued = ca.issueServerCertificate({
      commonName: 'gateway-1',
      dnsNames: ['localhost', 'gateway-1.wasmbed.svc'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    const after = Date.now();
    const x509 = new crypto.X509Certificate(issued.certPem);
    expect(x509.verify(new crypto.X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(x509.ca).toBe(false);
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkHost('gateway-1.wasmbed.svc')).toBe('gateway-1.wasmbed.svc');
    expect(x509.checkHost('evil.example')).toBeUndefined();
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkIP('::1')).toBe('::1');
    expect(x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // Node names the EKU list keyUsage
    expect(x509.checkPrivateKey(crypto.createPrivateKey(issued.keyPem!))).toBe(true);
    expect(issued.commonName).toBe('gateway-1');
    expect(issued.serial).toBe(serialHex(x509.serialNumber));

    const cert = forge.pki.certificateFromPem(issued.certPem);
    expect(extensionKeyId(cert, 'authorityKeyIdentifier')).toBe(
      extensionKeyId(forge.pki.certificateFromPem(ca.certPem), 'subjectKeyIdentifier'),
    );
    expect(cert.getExtension('basicConstraints')).toMatchObject({ cA: false, critical: true });
    expect(cert.getExtension('keyUsage')).toMatchObject({ digitalSignature: true, keyEncipherment: true });

    // Validity is in whole seconds, and issuing may cross a second boundary on a loaded machine.
    expect(issued.notBefore.getTime()).toBeGreaterThanOrEqual(before - 5 * 60_000 - 1000);
    expect(issued.notBefore.getTime()).toBeLessThanOrEqual(after - 5 * 60_000);
    expect(Math.round((issued.notAfter.getTime() - before) / DAY_MS)).toBe(365);
    expect(new Date(x509.validTo).getTime()).toBe(issued.notAfter.getTime());
    expect(new Date(x509.validFrom).getTime()).toBe(issued.notBefore.getTime());
  });

  it('rejects bad server certificate input with ValidationError naming the field', async () => {
    const ca = await CertificateAuthority.loadOrCreate(tempDir());
    const attempt = (req: Parameters<CertificateAuthority['issueServerCertificate']>[0]) => {
      try {
        ca.issueServerCertificate(req);
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        return (err as ValidationError).field;
      }
      throw new Error('expected a ValidationError');
    };
    expect(attempt({ commonName: 'gw', dnsNames: [], ipAddresses: [] })).toBe('dnsNames');
    expect(attempt({ commonName: 'gw', dnsNames: ['bad name'], ipAddresses: [] })).toBe('dnsNames[0]');
    expect(attempt({ commonName: 'gw', dnsNames: [], ipAddresses: ['300.1.1.1'] })).toBe('ipAddresses[0]');
    expect(attempt({ commonName: '', dnsNames: ['localhost'], ipAddresses: [] })).toBe('commonName');
    expect(attempt({ commonName: 'gw', dnsNames: ['localhost'], ipAddresses: [], validityDays: 0 })).toBe(
      'validityDays',
    );
  });

  it('issues device client certificates with a generated key, or for a given RSA or EC public key', async () => {
    const ca = await CertificateAuthority.loadOrCreate(tempDir());
    const generated = ca.issueClientCertificate({ commonName: 'dev-1' });
    const x509 = new crypto.X509Certificate(generated.certPem);
    // Device keys are EC P-256 by default, signed by the (RSA) CA with sha256WithRSAEncryption.
    const generatedKey = crypto.createPrivateKey(generated.keyPem!);
    expect(generatedKey.asymmetricKeyType).toBe('ec');
    expect(generatedKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(signatureOid(generated.certPem)).toBe('1.2.840.113549.1.1.11');
    const rsaGenerated = ca.issueClientCertificate({ commonName: 'dev-1r', keyType: 'rsa2048' });
    expect(crypto.createPrivateKey(rsaGenerated.keyPem!).asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(x509.subject).toBe('CN=dev-1');
    expect(x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(x509.checkPrivateKey(crypto.createPrivateKey(generated.keyPem!))).toBe(true);
    expect(generated.spkiSha256).toBe(spkiSha256FromPublicKey(generated.keyPem!));
    expect(Math.round((generated.notAfter.getTime() - Date.now()) / DAY_MS)).toBe(90);
    expect(ca.isIssuerOf(generated.certPem)).toBe(true);

    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const forRsa = ca.issueClientCertificate({ commonName: 'dev-2', publicKeyPem: rsaPem, validityDays: 7 });
    expect(forRsa.keyPem).toBeUndefined();
    expect(new crypto.X509Certificate(forRsa.certPem).checkPrivateKey(rsa.privateKey)).toBe(true);
    expect(forRsa.spkiSha256).toBe(spkiSha256FromPublicKey(rsaPem));
    // PKCS#1 "RSA PUBLIC KEY" PEM is accepted too and certifies the same key.
    const pkcs1 = rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(ca.issueClientCertificate({ commonName: 'dev-2', publicKeyPem: pkcs1 }).spkiSha256).toBe(
      forRsa.spkiSha256,
    );

    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const forEc = ca.issueClientCertificate({ commonName: 'dev-3', publicKeyPem: ecPem });
    const ecX509 = new crypto.X509Certificate(forEc.certPem);
    expect(ecX509.checkPrivateKey(ec.privateKey)).toBe(true);
    expect(ecX509.verify(new crypto.X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(forEc.spkiSha256).toBe(spkiSha256FromPublicKey(ecPem));

    const weak = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    for (const publicKeyPem of [
      weak.export({ type: 'spki', format: 'pem' }).toString(),
      rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      'not a key',
    ]) {
      expect(() => ca.issueClientCertificate({ commonName: 'dev-4', publicKeyPem })).toThrow(ValidationError);
    }
    expect(() => ca.issueClientCertificate({ commonName: 'a\nb' })).toThrow(ValidationError);
  });

  it('uses random, positive, 16-byte serials without a leading zero byte', async () => {
    const ca = await CertificateAuthority.loadOrCreate(tempDir());
    const publicKeyPem = crypto
      .generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const serials = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const { serial, certPem } = ca.issueClientCertificate({ commonName: 'dev-s', publicKeyPem });
      expect(serial).toMatch(/^[0-7][0-9a-f]{31}$/);
      expect(serial.startsWith('00')).toBe(false);
      expect(inspectCertificate(certPem).serial).toBe(serial);
      serials.add(serial);
    }
    expect(serials.size).toBe(300);
  });

  it('issues a certificate with a fresh RSA-2048 key when asked for one (an enrolled board may hold one)', async () => {
    // (How long a key takes is bench/key-issuance.ts's to measure, not a test's: a timed test
    // fails on a loaded machine.)
    const ca = await CertificateAuthority.loadOrCreate(tempDir());
    const issued = ca.issueClientCertificate({ commonName: 'dev-rsa', keyType: 'rsa2048' });
    const key = crypto.createPrivateKey(issued.keyPem!);
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const cert = new crypto.X509Certificate(issued.certPem);
    expect(cert.checkPrivateKey(key)).toBe(true);
    expect(cert.verify(crypto.createPublicKey(ca.certPem))).toBe(true);
  });
});

describe('certificate info', () => {
  it('inspects the fields the platform records', async () => {
    const ca = await CertificateAuthority.loadOrCreate(tempDir(), { commonName: 'Inspect CA' });
    const issued = ca.issueClientCertificate({ commonName: 'dev-inspect', validityDays: 30 });
    const info = inspectCertificate(issued.certPem);
    expect(info).toEqual({
      serial: issued.serial,
      spkiSha256: issued.spkiSha256,
      commonName: 'dev-inspect',
      issuerCommonName: 'Inspect CA',
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
    });
    expect(inspectCertificate(new crypto.X509Certificate(issued.certPem).raw)).toEqual(info);
  });

  it('spells a serial one way: whole bytes in lower-case hex, as the ledger records it', () => {
    expect(serialHex('0A1B2C')).toBe('0a1b2c'); // as Node prints a serial starting with a 0 nibble
    expect(serialHex('a1b2c')).toBe('0a1b2c'); // the leading zero dropped
    expect(serialHex('000a1b2c')).toBe('0a1b2c');
    expect(serialHex('7F00')).toBe('7f00');
    expect(serialHex('0')).toBe('00');
    expect(serialHex('not-hex')).toBe('not-hex'); // matches no certificate
  });

  it('computes spkiSha256 from a DER certificate or a DER SubjectPublicKeyInfo', async () => {
    const ca = await CertificateAuthority.loadOrCreate(tempDir());
    const issued = ca.issueClientCertificate({ commonName: 'dev-spki' });
    const x509 = new crypto.X509Certificate(issued.certPem);
    const spkiDer = x509.publicKey.export({ type: 'spki', format: 'der' });
    const expected = crypto.createHash('sha256').update(spkiDer).digest('hex');
    expect(issued.spkiSha256).toBe(expected);
    expect(spkiSha256FromDer(x509.raw)).toBe(expected);
    expect(spkiSha256FromDer(spkiDer)).toBe(expected);
  });

  it('rejects input that is neither a certificate nor an SPKI', () => {
    expect(() => spkiSha256FromDer(Buffer.from('04abcdef', 'hex'))).toThrow(PkiError);
    expect(() => spkiSha256FromDer(Buffer.alloc(0))).toThrow(PkiError);
    expect(() =>
      inspectCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
    ).toThrow(PkiError);
  });
});

describe('DeviceCertificates with SqliteCertificateRepository', () => {
  async function setup(options: ConstructorParameters<typeof DeviceCertificates>[2] = {}) {
    const dir = tempDir();
    const ca = await CertificateAuthority.loadOrCreate(path.join(dir, 'ca'));
    const db = openDb(path.join(dir, 'store.db'));
    const repo = new SqliteCertificateRepository(db);
    return { dir, ca, db, repo, certs: new DeviceCertificates(ca, repo, options) };
  }

  it('is idempotent: the same certificate twice, exactly one active row', async () => {
    const { ca, db, repo, certs } = await setup();
    const first = await certs.issue('dev-1');
    const second = await certs.issue('dev-1');
    expect(second).toEqual(first);
    expect(first.keyPem).toContain('PRIVATE KEY');
    expect(first.revokedAt).toBeNull();
    expect(inspectCertificate(first.certPem).commonName).toBe('dev-1');
    expect(ca.isIssuerOf(first.certPem)).toBe(true);
    expect(await repo.countActive('dev-1')).toBe(1);
    expect(await repo.listForDevice('dev-1')).toEqual([first]);
    expect(Math.round((Date.parse(first.notAfter) - Date.now()) / DAY_MS)).toBe(90);
    // A second repository over the same database sees the same state.
    expect(await new SqliteCertificateRepository(db).findActive('dev-1')).toEqual(first);
    db.close();
  });

  it('renews a certificate that is within renewBeforeDays of expiry, revoking the old one', async () => {
    const { db, repo, certs } = await setup({ validityDays: 1, renewBeforeDays: 2 });
    const first = await certs.issue('dev-r');
    const second = await certs.issue('dev-r');
    expect(second.serial).not.toBe(first.serial);
    expect(await certs.isRevoked(first.serial)).toBe(true);
    expect(await certs.isRevoked(second.serial)).toBe(false);
    expect(await repo.countActive('dev-r')).toBe(1);
    const history = await repo.listForDevice('dev-r');
    expect(history.map((r) => r.serial)).toEqual([first.serial, second.serial]);
    expect(history[0]!.revokedAt).not.toBeNull();
    db.close();
  });

  it('renews by the clock: kept until 30 days before expiry, replaced after', async () => {
    let now = new Date();
    const { db, certs } = await setup({ now: () => now });
    const first = await certs.issue('dev-c');
    now = new Date(Date.now() + 59 * DAY_MS);
    expect((await certs.issue('dev-c')).serial).toBe(first.serial);
    now = new Date(Date.now() + 61 * DAY_MS);
    const renewed = await certs.issue('dev-c');
    expect(renewed.serial).not.toBe(first.serial);
    expect(await certs.isRevoked(first.serial)).toBe(true);
    now = new Date();
    expect((await certs.issue('dev-c')).serial).toBe(renewed.serial); // the fresh 90-day certificate is kept
    db.close();
  });

  it('revokes, and issues a new certificate afterwards', async () => {
    const { db, repo, certs } = await setup();
    const first = await certs.issue('dev-x');
    expect(await certs.revoke('dev-x')).toBe(1);
    expect(await certs.revoke('dev-x')).toBe(0);
    expect(await certs.isRevoked(first.serial)).toBe(true);
    expect(await certs.isRevoked(first.serial.toUpperCase())).toBe(true);
    expect(await certs.isRevoked('00ff')).toBe(false);
    expect(await certs.findActive('dev-x')).toBeUndefined();
    const next = await certs.issue('dev-x');
    expect(next.serial).not.toBe(first.serial);
    expect(await repo.countActive('dev-x')).toBe(1);
    db.close();
  });

  it('replaces a certificate signed by a different CA (the CA was recreated)', async () => {
    const { db, repo, certs } = await setup();
    const old = await certs.issue('dev-ca');
    const otherCa = await CertificateAuthority.loadOrCreate(tempDir());
    const withNewCa = new DeviceCertificates(otherCa, repo);
    const replaced = await withNewCa.issue('dev-ca');
    expect(replaced.serial).not.toBe(old.serial);
    expect(otherCa.isIssuerOf(replaced.certPem)).toBe(true);
    expect(await repo.isRevoked(old.serial)).toBe(true);
    db.close();
  });

  it('binds to a device-held public key when given one', async () => {
    const { db, certs } = await setup();
    const keyA = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    const keyB = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    const pemA = keyA.export({ type: 'spki', format: 'pem' }).toString();
    const pemB = keyB.export({ type: 'spki', format: 'pem' }).toString();
    const a = await certs.issue('dev-k', { publicKeyPem: pemA });
    expect(a.keyPem).toBeNull();
    expect(a.spkiSha256).toBe(spkiSha256FromPublicKey(pemA));
    expect((await certs.issue('dev-k', { publicKeyPem: pemA })).serial).toBe(a.serial);
    expect((await certs.issue('dev-k')).serial).toBe(a.serial); // no key requested: the device's cert stands
    const b = await certs.issue('dev-k', { publicKeyPem: pemB });
    expect(b.serial).not.toBe(a.serial);
    expect(await certs.isRevoked(a.serial)).toBe(true);
    db.close();
  });

  it('validates the device name', async () => {
    const { db, certs } = await setup();
    await expect(certs.issue('Bad_Name')).rejects.toThrow(ValidationError);
    await expect(certs.revoke('')).rejects.toThrow(ValidationError);
    db.close();
  });

  it('lets only one writer win across connections, and the unique index backs it up', async () => {
    const { dir, ca, db, repo } = await setup();
    const db2 = openDb(path.join(dir, 'store.db'));
    const repo2 = new SqliteCertificateRepository(db2);
    const record = (deviceName: string): CertificateRecord => {
      const issued = ca.issueClientCertificate({ commonName: deviceName });
      return {
        deviceName,
        serial: issued.serial,
        certPem: issued.certPem,
        keyPem: issued.keyPem ?? null,
        spkiSha256: issued.spkiSha256,
        notBefore: issued.notBefore.toISOString(),
        notAfter: issued.notAfter.toISOString(),
        revokedAt: null,
        createdAt: new Date().toISOString(),
      };
    };
    const a = record('dev-u');
    const b = record('dev-u');
    expect(await repo.insertIfNoActive(a)).toEqual(a);
    expect(await repo2.insertIfNoActive(b)).toEqual(a); // b lost: the existing active record is returned
    expect(await repo2.countActive('dev-u')).toBe(1);

    // Bypassing the repository, the database itself refuses a second active certificate.
    expect(() =>
      db2
        .prepare(
          `INSERT INTO certificates (serial, device_name, cert_pem, key_pem, spki_sha256, not_before, not_after, revoked_at, created_at)
           VALUES (?, 'dev-u', 'x', NULL, 'x', 'x', 'x', NULL, 'x')`,
        )
        .run(b.serial),
    ).toThrow(/UNIQUE/);

    // Renewal against a stale view: the newer active record wins and nothing changes.
    const c = record('dev-u');
    expect(await repo2.replaceActive(a.serial, c, new Date())).toEqual(c);
    const d = record('dev-u');
    expect(await repo.replaceActive(a.serial, d, new Date())).toEqual(c);
    expect(await repo.countActive('dev-u')).toBe(1);
    expect(await repo.isRevoked(a.serial)).toBe(true);
    expect((await repo.listForDevice('dev-u')).map((r) => r.serial)).toEqual([a.serial, c.serial]);
    db2.close();
    db.close();
  });
});
