/**
 * The device host killed with SIGKILL while devices are inside provisioning's host steps (the
 * API starts `provision-<device>` on the host's own queue, where the steps are local activities:
 * workflows/provision-device.ts), and killed again while the new host runs the interrupted steps
 * again: the orchestrator's supervisor starts a new host each time, the run's interrupted
 * workflow task runs again there, and every
 * device ends Connected exactly once — one session at the gateway, one device in
 * the host, one key (0600) and the certificate for it in its volume, one active certificate in
 * the ledger, one provisioning run — while a device deleted during the interruption leaves
 * nothing behind (no volume, certificate, session, workflow or device in the host).
 *
 * Real components: a real Temporal dev server, the real orchestrator, gateway, web and device
 * host processes. To be inside the host steps at the kill, the host runs with
 * WASMBED_TEST_HOST_STEP_DELAY_MS (a test-only knob, common/config.ts): each host step waits
 * after its work before it completes, and the test kills the host once it sees devices at
 * different host steps (status.steps) with their provisioning running.
 */
import Database from 'better-sqlite3';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, paths } from '../common/config.js';
import type { Device } from '../common/resources.js';
import { readMemoryImage } from '../device/memory-contract.js';
import { volumeFiles } from '../device/volume-layout.js';
import { callHost, type HostStatus } from '../host/control.js';
import { openPlatform, type PlatformContext } from '../platform/context.js';
import { DEVICE_KEY_FILE } from '../runtimes/local-volume.js';
import {
  lifecycleWorkflowId,
  prepareOnHostWorkflowId,
  provisionWorkflowId,
} from '../workflows/contracts/index.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

/** How long each host step is held open after its work (the test-only knob). */
const STEP_DELAY_MS = 3000;
const HOST_STEPS = ['issueCertificate', 'prepareVolume', 'copyFirmware', 'startEmulator'];
const SURVIVORS = Array.from({ length: 6 }, (_, i) => `mid-prep-${i}`);
/** Deleted while its provisioning is interrupted in the host steps (the host is dead). */
const DELETED = 'mid-prep-gone';

let platform: TestPlatform;
/** The platform's store and certificate ledger, opened the way its processes open them. */
let ledger: PlatformContext;

beforeAll(async () => {
  platform = await startTestPlatform({
    env: { WASMBED_TEST_HOST_STEP_DELAY_MS: String(STEP_DELAY_MS), WASMBED_LIFECYCLE_GRACE_MS: '2000' },
  });
  ledger = await openPlatform(loadConfig(platform.env));
});
afterAll(async () => {
  await ledger?.close();
  await platform?.stop();
});

const device = async (name: string) => (await platform.api('GET', `/api/v1/devices/${name}`)).body as Device;
const hostDevices = async () =>
  (await callHost<HostStatus>(platform.home, platform.hostId, { op: 'status' })).devices.map((d) => d.name);
const gatewaySessions = async () =>
  ((await (await fetch(`${platform.gatewayHealthUrl}/healthz`)).json()) as { devices: string[] }).devices;
const volumesDir = () => path.join(platform.home, 'volumes');
const volumes = () => (fs.existsSync(volumesDir()) ? fs.readdirSync(volumesDir()).sort() : []);
const count = (list: string[], name: string) => list.filter((n) => n === name).length;

/** Every certificate ever issued to the device (the platform's SQLite ledger): serial, revoked or not. */
function issuedCertificates(name: string): { serial: string; revoked: boolean }[] {
  const db = new Database(paths.db(platform.home), { readonly: true });
  try {
    return (
      db.prepare('SELECT serial, revoked_at FROM certificates WHERE device_name = ?').all(name) as {
        serial: string;
        revoked_at: string | null;
      }[]
    ).map((row) => ({ serial: row.serial, revoked: row.revoked_at !== null }));
  } finally {
    db.close();
  }
}

/** The device host the supervisor started after `killed`: its pid. */
async function newHost(killed: number): Promise<number> {
  return waitFor(
    'a new device host',
    () => {
      const pid = platform.hostPid();
      return pid !== undefined && pid !== killed ? pid : undefined;
    },
    60_000,
  );
}

/** The host step the device is in (its status.steps), if it is inside the host steps. */
function hostStepOf(d: Device | undefined): string | undefined {
  return d?.status?.steps?.find((s) => HOST_STEPS.includes(s.name) && s.state === 'Running')?.name;
}

async function workflowStatus(workflowId: string): Promise<string | undefined> {
  try {
    return (await platform.client.workflow.getHandle(workflowId).describe()).status.name;
  } catch {
    return undefined; // never started
  }
}

/**
 * Every run of the workflow id: its status names, once all have closed (visibility, which the
 * list reads, lags a run's own state by a moment).
 */
async function closedRunsOf(workflowId: string): Promise<string[]> {
  return waitFor(`every run of ${workflowId} closed`, async () => {
    const runs: string[] = [];
    for await (const run of platform.client.workflow.list({ query: `WorkflowId = "${workflowId}"` }))
      runs.push(run.status.name);
    return runs.includes('RUNNING') ? undefined : runs;
  });
}

/** The gateway's log lines (JSON) for `device` with message `msg`. */
function gatewayLines(device: string, msg: string): unknown[] {
  return (platform.logs.get('gateway') ?? []).flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as { msg?: string; device?: string };
      return parsed.msg === msg && parsed.device === device ? [parsed] : [];
    } catch {
      return [];
    }
  });
}

describe('device host killed while devices are inside their host steps', () => {
  it('every device ends Connected exactly once; one deleted meanwhile leaves nothing', async () => {
    // Staggered by half a step so that, for a while, the seven devices are spread over the four
    // host steps: the first ones in startEmulator (the device already running in the host), the
    // deleted one further back, the last ones at issueCertificate. Watched from the first one on.
    const creating = (async () => {
      for (const name of [...SURVIVORS.slice(0, 2), DELETED, ...SURVIVORS.slice(2)]) {
        expect((await platform.api('POST', '/api/v1/devices', { name })).status).toBe(202);
        await new Promise((resolve) => setTimeout(resolve, STEP_DELAY_MS / 2));
      }
    })();
    const inside = await waitFor(
      'devices inside each of the host steps, the deleted one among them',
      async () => {
        const steps = new Map<string, string>();
        for (const name of [DELETED, ...SURVIVORS]) {
          const step = hostStepOf(await device(name).catch(() => undefined));
          if (step && (await workflowStatus(provisionWorkflowId(name))) === 'RUNNING') steps.set(name, step);
        }
        // Every host step interrupted on some device; the deleted one among them.
        return steps.has(DELETED) && HOST_STEPS.every((step) => [...steps.values()].includes(step))
          ? steps
          : undefined;
      },
      180_000,
      50,
    );
    const hostPid = platform.hostPid()!;
    const killedAt = Date.now();
    process.kill(hostPid, 'SIGKILL');
    await creating;
    // Still inside at the kill: the run takes no step without its host.
    for (const name of inside.keys())
      expect(await workflowStatus(provisionWorkflowId(name)), name).toBe('RUNNING');

    // Deleted while its provisioning is interrupted (its host is not back yet).
    expect((await platform.api('DELETE', `/api/v1/devices/${DELETED}`)).status).toBe(202);

    // And killed again while the interrupted steps run again in the new host.
    const secondPid = await newHost(hostPid);
    await waitFor(
      'a host step run again in the new host',
      async () => {
        for (const name of SURVIVORS) {
          const step = (await device(name)).status?.steps?.find(
            (s) => HOST_STEPS.includes(s.name) && s.state === 'Running',
          );
          if (step && Date.parse(step.startedAt ?? '') > killedAt) return true;
        }
        return false;
      },
      120_000,
      50,
    );
    process.kill(secondPid, 'SIGKILL');
    const newPid = await newHost(secondPid);
    const connected = await waitFor(
      `${SURVIVORS.length} devices Connected`,
      async () => {
        const devices = await Promise.all(SURVIVORS.map(device));
        return devices.every((d) => d.status?.phase === 'Connected') ? devices : undefined;
      },
      420_000,
      250,
    );
    await waitFor(
      `${DELETED} gone`,
      async () => (await platform.api('GET', `/api/v1/devices/${DELETED}`)).status === 404,
      300_000,
      250,
    );
    // One session each, the new host running each once.
    await waitFor(
      'a session for every device at the gateway',
      async () => {
        const sessions = await gatewaySessions();
        return SURVIVORS.every((name) => sessions.includes(name));
      },
      120_000,
    );

    const sessions = await gatewaySessions();
    const inHost = await hostDevices();
    for (const d of connected) {
      const name = d.metadata.name;
      expect(count(sessions, name), `${name}: sessions at the gateway`).toBe(1);
      expect(count(inHost, name), `${name}: copies in the host`).toBe(1);
      expect(platform.deviceProcesses(name)[0]?.split(':')[0], `${name}: boot`).toBe(String(newPid));
      expect(d.status.host).toBe(platform.hostId);
      // Never two copies of it: no session replaced by another connection of the same device.
      expect(gatewayLines(name, 'device connected again; replacing its older session'), name).toEqual([]);

      // One key in its volume, 0600, and the certificate the device holds is the one active
      // certificate of the ledger, for that key, the one its status records.
      const volume = paths.volume(platform.home, name);
      const files = fs.readdirSync(volume);
      expect(
        files.filter((f) => f.startsWith(DEVICE_KEY_FILE)),
        `${name}: key files`,
      ).toEqual([DEVICE_KEY_FILE]);
      expect(
        files.filter((f) => f.endsWith('.tmp')),
        `${name}: leftovers`,
      ).toEqual([]);
      const keyFile = path.join(volume, DEVICE_KEY_FILE);
      const memoryFile = volumeFiles(volume).memory;
      expect(fs.statSync(keyFile).mode & 0o777, `${name}: key mode`).toBe(0o600);
      expect(fs.statSync(memoryFile).mode & 0o777, `${name}: memory mode`).toBe(0o600);
      const { credentials } = readMemoryImage(fs.readFileSync(memoryFile));
      expect(credentials.keyPem).toBe(fs.readFileSync(keyFile, 'utf8'));
      const active = await ledger.certificates.findActive(name);
      expect(active, `${name}: active certificate`).toBeDefined();
      expect(credentials.certPem).toBe(active!.certPem);
      expect(d.status.identity?.certSerial).toBe(active!.serial);
      // Never a second key or certificate: the interrupted steps, run again, adopted what was made.
      expect(issuedCertificates(name), `${name}: certificates issued`).toEqual([
        { serial: active!.serial, revoked: false },
      ]);
      const certKey = new crypto.X509Certificate(active!.certPem).publicKey;
      expect(certKey.equals(crypto.createPublicKey(credentials.keyPem)), `${name}: cert for its key`).toBe(
        true,
      );

      // Provisioned once: one run of provisioning, completed, which ran the host steps itself
      // (on the host's queue: no host child).
      expect(await closedRunsOf(provisionWorkflowId(name)), `${name}: provisioning runs`).toEqual([
        'COMPLETED',
      ]);
      expect(await workflowStatus(prepareOnHostWorkflowId(name)), `${name}: host child`).toBeUndefined();
      expect(await workflowStatus(lifecycleWorkflowId(name))).toBe('RUNNING');
    }

    // The deleted device: nothing left anywhere.
    expect(volumes()).toEqual([...SURVIVORS].sort());
    expect(await hostDevices()).not.toContain(DELETED);
    expect(await gatewaySessions()).not.toContain(DELETED);
    expect(platform.deviceProcesses(DELETED)).toEqual([]);
    expect(await ledger.store.get('Device', DELETED)).toBeUndefined();
    expect(await ledger.certificates.findActive(DELETED)).toBeUndefined();
    expect(
      issuedCertificates(DELETED).every((c) => c.revoked),
      `${DELETED}: certificates revoked`,
    ).toBe(true);
    // Its provisioning was cancelled where it stood; no lifecycle ever began.
    expect(await closedRunsOf(provisionWorkflowId(DELETED))).toEqual(['CANCELLED']);
    expect(await workflowStatus(lifecycleWorkflowId(DELETED))).toBeUndefined();
  }, 900_000);
});
