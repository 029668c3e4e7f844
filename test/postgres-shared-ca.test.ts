/**
 * Machines sharing one PostgreSQL must share one CA (docs/postgresql.md): the keys stay on each
 * machine's disk. A second machine started without a copy of the first one's pki/ made a CA of
 * its own, silently, and devices placed across the two never connected ("self-signed certificate
 * in certificate chain"). Now the database records the CAs of the first process, and a process
 * with another CA, or none, refuses to start — without making one.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { CertificateAuthority } from '../pki/index.js';
import { openPlatform } from '../platform/context.js';
import { startPostgres, type PostgresServer } from './support/postgres.js';

let server: PostgresServer;
let dir: string;

beforeAll(async () => {
  server = await startPostgres();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-shared-ca-'));
}, 120_000);
afterAll(async () => {
  await server?.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A process of the machine whose WASMBED_HOME is `home`, on the shared database. */
const openMachine = (home: string) =>
  openPlatform(loadConfig({ WASMBED_HOME: home, WASMBED_DATABASE_URL: server.url }));

it('a machine without the platform’s CA, or with another, refuses to start; a copy of pki/ starts', async () => {
  const first = path.join(dir, 'machine-a');
  const a = await openMachine(first);
  const caPem = a.ca.certPem;
  await a.close();

  // Started from an empty home: no CA made, the error says what to copy.
  const second = path.join(dir, 'machine-b');
  await expect(openMachine(second)).rejects.toMatchObject({ code: 'CaMismatch' });
  await expect(openMachine(second)).rejects.toThrow(/copy the pki\/ directory/);
  expect(fs.existsSync(path.join(second, 'pki', 'ca.key'))).toBe(false);

  // A CA of its own (made before, or by hand): refused, naming both fingerprints.
  const third = path.join(dir, 'machine-c');
  await CertificateAuthority.loadOrCreate(path.join(third, 'pki'));
  await expect(openMachine(third)).rejects.toThrow(/is not this platform's/);

  // With a copy of the first machine's pki/, it starts with the same CA.
  fs.cpSync(path.join(first, 'pki'), path.join(second, 'pki'), { recursive: true });
  const b = await openMachine(second);
  expect(b.ca.certPem).toBe(caPem);
  await b.close();
}, 120_000);

it('a platform from before the record: the CA that signed its certificates is its CA, not the first to start', async () => {
  const url = await server.createDatabase('upgraded');
  const open = (home: string) => openPlatform(loadConfig({ WASMBED_HOME: home, WASMBED_DATABASE_URL: url }));
  const first = path.join(dir, 'upgraded-a');
  const a = await open(first);
  await a.certificates.issue('dev-1');
  await a.close();
  // The database as a release without the record left it: certificates, no fingerprint.
  const pool = new pg.Pool({ connectionString: url });
  await pool.query('DELETE FROM platform_cas');
  await pool.end();

  // The first process to start after the upgrade is a stray machine's: refused, nothing recorded.
  await expect(open(path.join(dir, 'upgraded-b'))).rejects.toThrow(/holds certificates the CA signed/);
  const stray = path.join(dir, 'upgraded-c');
  await CertificateAuthority.loadOrCreate(path.join(stray, 'pki'));
  await expect(open(stray)).rejects.toThrow(/did not sign the certificates/);
  // The platform's own machine starts and records its CA; the stray one stays refused.
  await (await open(first)).close();
  await expect(open(stray)).rejects.toThrow(/is not this platform's/);
});
