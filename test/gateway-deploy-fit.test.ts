/**
 * The gateway does not send a DeployApplication larger than the device said it takes in its
 * Hello (gateway/deploy-fit.ts). A board re-flashed with a smaller module budget than when its app
 * was created reconnects and is given the app again by its lifecycle: sent, the frame would make
 * it close its session (FrameTooLarge), reconnect and be sent the same again. Real DeviceServer,
 * real TLS, a real device link; the gateway's activities run in @temporalio/testing's
 * MockActivityEnvironment (an activity context without a server: only their own logic is tested).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEPLOY_FRAME_OVERHEAD } from '../common/mcu-profiles.js';
import { DeviceLink } from '../device/device-link.js';
import { Fleet } from '../device/fleet.js';
import { createGatewayActivities } from '../gateway/activities.js';
import type { Message } from '../protocol/messages.js';
import { FileModuleStore } from '../store/file-module-store.js';
import { startInProcessGateway } from './support/in-process-gateway.js';
import { testDeviceInfo } from './support/protocol-helpers.js';
import { START_APP } from './support/start-app.js';
import { padToSize } from './support/wasm-padding.js';
import { waitFor } from './support/wait.js';

const REPORTED = 20_000;

let gateway: Awaited<ReturnType<typeof startInProcessGateway>>;
let link: DeviceLink;
let modulesDir: string;
let activities: ReturnType<typeof createGatewayActivities>;
let closed = false;
/** What the device was sent: a DeployApplication's module size, per request. */
const deploys: number[] = [];

beforeAll(async () => {
  gateway = await startInProcessGateway();
  const fleet = new Fleet({ home: gateway.home, endpoint: gateway.endpoint, prefix: 'reflashed', count: 1 });
  await fleet.prepare();
  const credentials = (
    fleet as unknown as { credentials: { certPem: string; keyPem: string; caPem: string }[] }
  ).credentials[0]!;
  link = new DeviceLink({
    endpoint: gateway.endpoint,
    credentials,
    // A board whose firmware takes modules of up to 20,000 bytes.
    deviceInfo: () => ({ ...testDeviceInfo(), maxAppSize: REPORTED }),
    onRequest: (body: Message): Message | undefined => {
      if (body.type === 'RequestDeviceInfo')
        return { type: 'DeviceInfo', ...testDeviceInfo(), maxAppSize: REPORTED };
      if (body.type !== 'DeployApplication') return undefined;
      deploys.push(body.module.length);
      return { type: 'DeployAck', appId: body.appId, ok: true, error: null };
    },
  });
  void link.closed.then(() => (closed = true));
  await waitFor(
    'the device session',
    () => gateway.registry.get('reflashed-0')?.info.deviceInfo !== undefined,
  );
  modulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-deploy-fit-'));
  activities = createGatewayActivities({
    gatewayName: 'gateway-test',
    registry: gateway.registry,
    modules: new FileModuleStore(modulesDir),
  });
});
afterAll(async () => {
  link?.close();
  await gateway?.stop();
  if (modulesDir) fs.rmSync(modulesDir, { recursive: true, force: true });
});

/** One activity call in its own activity context, typed as the activity returns. */
const runActivity = <A, R>(activity: (input: A) => Promise<R>, input: A): Promise<R> =>
  new MockActivityEnvironment().run(activity, input) as Promise<R>;

const app = { appId: 'app', name: 'app', entry: '_start', limits: { memoryPages: 1, cpuMsPerCall: null } };

async function moduleOf(size: number): Promise<string> {
  const store = new FileModuleStore(modulesDir);
  return (await store.put(padToSize(START_APP, size))).sha256;
}

it('sends a module that fits what the device reported, and it is acked', async () => {
  const ack = await runActivity(activities.deployApplication, {
    ...app,
    device: 'reflashed-0',
    moduleSha256: await moduleOf(REPORTED - 2000),
  });
  expect(ack).toEqual({ ok: true, error: null });
  expect(deploys).toHaveLength(1);
});

it('refuses, unsent, a module larger than the device reported, and the session stays', async () => {
  const sha256 = await moduleOf(REPORTED + 2000); // within every profile's budget but this board's
  const single = await runActivity(activities.deployApplication, {
    ...app,
    device: 'reflashed-0',
    moduleSha256: sha256,
  });
  expect(single.ok).toBe(false);
  expect(single.error).toMatch(
    /^module is \d+ bytes, more than reflashed-0 takes: its firmware reported apps up to 20000 bytes; not sent$/,
  );
  const [batch] = await runActivity(activities.deployApplicationToMany, {
    ...app,
    devices: ['reflashed-0'],
    moduleSha256: sha256,
  });
  expect(batch).toEqual({ device: 'reflashed-0', ok: false, error: single.error, reached: false });
  // Env and args that take the frame past the module budget plus the firmware's allowance.
  const fullModule = await moduleOf(REPORTED); // (as large as it takes: env is what is too much)
  const [crowded] = await runActivity(activities.deployApplicationToMany, {
    ...app,
    devices: ['reflashed-0'],
    moduleSha256: fullModule,
    env: { NOTE: 'n'.repeat(DEPLOY_FRAME_OVERHEAD) },
  });
  expect(crowded!.ok).toBe(false);
  expect(crowded!.error).toMatch(
    new RegExp(
      `^the deploy message is \\d+ bytes, more than reflashed-0 takes: ${REPORTED + DEPLOY_FRAME_OVERHEAD} \\(its 20000-byte module budget plus ${DEPLOY_FRAME_OVERHEAD}\\); shorten env and args; not sent$`,
    ),
  );
  // None of the three reached the device, whose session is the one it had.
  expect(deploys).toHaveLength(1);
  expect(closed).toBe(false);
  expect(gateway.registry.get('reflashed-0')).toBeDefined();
});
