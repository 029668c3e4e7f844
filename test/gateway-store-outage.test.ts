/**
 * What the gateway learns while its store is down reaches the store once it is back. A store
 * write about a device (its session came up or went, an app changed state, a heartbeat) that met
 * an outage longer than the pool's own retry (10 s, store/postgres/pool.ts) used to be dropped,
 * and the device was shown wrong until something rewrote it: a quiet device never
 * (gateway/status-writes.ts keeps such writes and retries them).
 *
 * Real PostgreSQL, real TLS sessions of real device links, the gateway's own session and
 * device-event wiring (gateway/session-status.ts, gateway/device-events.ts) over its store. The
 * gateway reaches PostgreSQL through a TCP relay: the outage is first the database stopped
 * (pg_ctl stop), then, with it started again, the gateway still cut off from it while the test
 * deletes a device — as a machine partitioned from a PostgreSQL that others still use.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../common/logger.js';
import type { AppDeviceState, ApplicationSpec } from '../common/resources.js';
import { deviceState } from '../common/application-status.js';
import { DeviceLink } from '../device/device-link.js';
import { Fleet } from '../device/fleet.js';
import { createDeviceEventHandler } from '../gateway/device-events.js';
import { deviceStatusWrites } from '../gateway/device-status-writes.js';
import { recordSessionStatus } from '../gateway/session-status.js';
import { SessionRegistry } from '../gateway/session-registry.js';
import { openPostgresDatabase, type PostgresDatabase } from '../store/postgres/database.js';
import { PostgresDeviceLogs } from '../store/postgres/device-logs.js';
import { PostgresResourceStore } from '../store/postgres/resource-store.js';
import { startInProcessGateway } from './support/in-process-gateway.js';
import { startPostgres, type PostgresServer } from './support/postgres.js';
import { testDeviceInfo } from './support/protocol-helpers.js';
import { startTcpRelay, type TcpRelay } from './support/tcp-relay.js';
import { waitFor } from './support/wait.js';

const GATEWAY = 'gw-outage';
/** Longer than the pool's retry of a connection (10 s): a write started in the outage fails. */
const OUTAGE_PART_MS = 13_000;
/** How soon after the store is back it must say what the devices are. */
const CONVERGE_MS = 30_000;

let pg: PostgresServer;
let relay: TcpRelay;
let testDb: PostgresDatabase;
let testStore: PostgresResourceStore;
let gatewayDb: PostgresDatabase;
let gatewayStore: PostgresResourceStore;
let gateway: Awaited<ReturnType<typeof startInProcessGateway>>;
let writes: ReturnType<typeof deviceStatusWrites>;
let events: ReturnType<typeof createDeviceEventHandler>;
let fleet: Fleet;
const links = new Map<string, DeviceLink>();

const DEVICES = {
  stays: 'outage-0', // connected throughout
  leaves: 'outage-1', // connected before, disconnects while PostgreSQL is stopped
  leavesLate: 'outage-2', // connected before, disconnects while the gateway is cut off
  joins: 'outage-3', // connects while PostgreSQL is stopped
  joinsLate: 'outage-4', // connects while the gateway is cut off
  flips: 'outage-5', // its app changes state 40 times in the outage, Running last
  deleted: 'outage-6', // deleted while the gateway is cut off; disconnects and reports after
};

beforeAll(async () => {
  pg = await startPostgres();
  relay = await startTcpRelay(pg.port);
  testDb = await openPostgresDatabase(pg.url);
  testStore = await PostgresResourceStore.open(testDb);
  const throughRelay = new URL(pg.url);
  throughRelay.port = String(relay.port);
  gatewayDb = await openPostgresDatabase(throughRelay.toString(), { applicationName: 'test-gateway' });
  gatewayStore = await PostgresResourceStore.open(gatewayDb);

  const logger = createLogger('test-gateway');
  writes = deviceStatusWrites({ store: gatewayStore, logger });
  events = createDeviceEventHandler({
    store: gatewayStore,
    logs: new PostgresDeviceLogs(gatewayDb),
    logger,
    deviceStatus: writes,
    appStatusDelayMs: 50,
  });
  const registry = new SessionRegistry();
  const sessions = recordSessionStatus({
    gatewayName: GATEWAY,
    registry,
    change: writes.change,
    heartbeatWriteIntervalMs: 1_500,
  });
  gateway = await startInProcessGateway({}, 500, events, { registry, ...sessions });
  fleet = new Fleet({ home: gateway.home, endpoint: gateway.endpoint, prefix: 'outage', count: 7 });
  await fleet.prepare();

  const names = Object.values(DEVICES);
  for (const name of names) {
    await testStore.create(
      'Device',
      name,
      { mcuType: 'Mps2An385', runtime: 'virtual' },
      {
        phase: 'Disconnected',
        gateway: { name: GATEWAY, endpoint: gateway.endpoint },
        conditions: [],
        apps: { blinky: deviceState('Deploying') },
      },
    );
  }
  await testStore.create('Application', 'blinky', {} as ApplicationSpec, {
    phase: 'Deploying',
    devices: Object.fromEntries(names.map((d) => [d, deviceState('Deploying')])),
    counts: { targeted: names.length, running: 0, failed: 0, pending: names.length },
  });
}, 120_000);

afterAll(async () => {
  for (const link of links.values()) link.close();
  await gateway?.stop(); // its sessions' last writes, then flushed
  await writes?.flush(Date.now() + 10_000);
  await events?.flush(Date.now() + 10_000);
  await gatewayStore?.close();
  await gatewayDb?.close();
  await testStore?.close();
  await testDb?.close();
  await relay?.close();
  await pg?.destroy();
});

function connect(name: string): Promise<void> {
  const index = fleet.devices.findIndex((d) => d.name === name);
  const credentials = (
    fleet as unknown as { credentials: { certPem: string; keyPem: string; caPem: string }[] }
  ).credentials[index]!;
  return new Promise((resolve) => {
    links.set(
      name,
      new DeviceLink({
        endpoint: gateway.endpoint,
        credentials,
        deviceInfo: testDeviceInfo,
        onAnswered: () => resolve(),
      }),
    );
  });
}

async function disconnect(name: string): Promise<void> {
  const link = links.get(name)!;
  links.delete(name);
  link.close();
  await waitFor(`${name}'s session to end`, () => !gateway.registry.get(name));
}

function reportApp(name: string, state: 'Deploying' | 'Running' | 'Failed'): void {
  links.get(name)!.send({
    type: 'ApplicationStatus',
    apps: [{ appId: 'blinky', state, error: state === 'Failed' ? 'trap' : null, restarts: 0 }],
  });
}

/** A numbered app log line, and every fifth a publish: `line <n>` / `temperature <n>`. */
let linesSent = 0;
function sendLines(name: string, count: number): void {
  for (let i = 0; i < count; i++) {
    const n = linesSent++;
    if (n % 5 === 4)
      links
        .get(name)!
        .send({ type: 'Publish', appId: 'blinky', topic: 'temperature', data: Buffer.from(String(n)) });
    else
      links
        .get(name)!
        .send({ type: 'Log', appId: 'blinky', level: 2, message: `line ${n}`, timestampMs: Date.now() });
  }
}
const linesLogged = async (name: string) =>
  (await new PostgresDeviceLogs(testDb).list(name, { limit: 1000 })).map((l) => l.message);

const phaseOf = async (name: string) => (await testStore.get('Device', name))?.status.phase;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('writes what the gateway learned in an outage once the store is back, and resurrects no deleted device', async () => {
  for (const name of [DEVICES.stays, DEVICES.leaves, DEVICES.leavesLate, DEVICES.flips, DEVICES.deleted])
    await connect(name);
  for (const name of [DEVICES.stays, DEVICES.leaves, DEVICES.leavesLate, DEVICES.flips, DEVICES.deleted])
    await waitFor(`${name} Connected before the outage`, async () => (await phaseOf(name)) === 'Connected');

  sendLines(DEVICES.stays, 10);
  await waitFor(
    'the lines before the outage logged',
    async () => (await linesLogged(DEVICES.stays)).length === 10,
  );

  // Part 1: PostgreSQL stopped.
  const outageStart = Date.now();
  await pg.stop('fast');
  sendLines(DEVICES.stays, 100);
  await disconnect(DEVICES.leaves);
  await connect(DEVICES.joins);
  for (let i = 0; i < 40; i++) reportApp(DEVICES.flips, i % 2 ? 'Failed' : 'Deploying');
  reportApp(DEVICES.flips, 'Running');
  await sleep(OUTAGE_PART_MS);

  // Part 2: PostgreSQL back for everyone but this gateway; a device is deleted meanwhile.
  relay.cut();
  await pg.start();
  expect(await testStore.delete('Device', DEVICES.deleted)).toBe(true);
  reportApp(DEVICES.deleted, 'Running');
  await disconnect(DEVICES.deleted);
  await disconnect(DEVICES.leavesLate);
  await connect(DEVICES.joinsLate);
  sendLines(DEVICES.stays, 100);
  await sleep(OUTAGE_PART_MS);
  expect(writes.pending).toBeGreaterThan(0);
  // Kept, not dropped: they used to be lost, each with a warning.
  expect(events.logLines.pending).toBe(200);

  relay.restore();
  const back = Date.now();
  const truth = async () => {
    const phases = Object.fromEntries(
      await Promise.all(Object.values(DEVICES).map(async (d) => [d, await phaseOf(d)] as const)),
    );
    const flips = (await testStore.get('Device', DEVICES.flips))?.status.apps.blinky as
      AppDeviceState | undefined;
    const app = await testStore.get('Application', 'blinky');
    return {
      phases,
      flipsDevice: flips?.state,
      flipsApplication: app?.status.devices[DEVICES.flips]?.state,
    };
  };
  const expected = {
    phases: {
      [DEVICES.stays]: 'Connected',
      [DEVICES.leaves]: 'Disconnected',
      [DEVICES.leavesLate]: 'Disconnected',
      [DEVICES.joins]: 'Connected',
      [DEVICES.joinsLate]: 'Connected',
      [DEVICES.flips]: 'Connected',
      [DEVICES.deleted]: undefined,
    },
    flipsDevice: 'Running',
    flipsApplication: 'Running',
  };
  let seen: unknown;
  await waitFor(
    'the store to say what the devices are',
    async () => {
      seen = await truth();
      return JSON.stringify(seen) === JSON.stringify(expected);
    },
    CONVERGE_MS,
    250,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; the store says ${JSON.stringify(seen)}`);
  });
  const convergedMs = Date.now() - back;
  console.log(`outage ${back - outageStart} ms; the store caught up ${convergedMs} ms after it was back`);

  // Every line the device sent, in the order it sent them: before, in both parts of the outage,
  // and once the store was back.
  sendLines(DEVICES.stays, 10);
  const expectedLines = Array.from({ length: 220 }, (_, n) =>
    n % 5 === 4 ? `temperature ${n}` : `line ${n}`,
  );
  await waitFor(
    'every device log line written',
    async () => (await linesLogged(DEVICES.stays)).length === 220,
  );
  expect(await linesLogged(DEVICES.stays)).toEqual(expectedLines);
  expect(events.logLines.pending).toBe(0);
  expect(events.logLines.dropped).toBe(0);

  // The joined devices' DeviceInfo and the heartbeats came through too; nothing is left waiting.
  expect((await testStore.get('Device', DEVICES.joins))!.status.deviceInfo).toBeDefined();
  await waitFor('no status write pending', () => writes.pending === 0);
  // Still nothing of the deleted device after everything was written.
  expect(await testStore.get('Device', DEVICES.deleted)).toBeUndefined();
  // The sessions lived through it.
  expect(gateway.registry.size).toBe(4);
}, 180_000);
