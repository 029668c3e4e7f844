/**
 * "Which devices run app X, and where did it fail?" against a real platform: 30 devices and an
 * application on all of them are written straight into the platform's store (as its rollout and
 * the devices' reports would leave them: the Application's per-device states and each Device's
 * `status.apps`; no emulator runs for them). The API lists them by `app` and `appState`, a page
 * at a time, refuses `appState` without `app`, and deletes by the same filters; in a real browser
 * (Debian's Chromium) the applications page's count of a state leads to the devices list of the
 * devices in that state (with a column of the app's state and error), the devices page's filter
 * form selects by app and state, and a device whose app recovers leaves the filtered table live.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { paths } from '../common/config.js';
import type { AppDeviceState, ApplicationStatus } from '../common/resources.js';
import { openDatabase } from '../store/sqlite.js';
import { SqliteResourceStore } from '../store/sqlite-resource-store.js';
import { launchBrowser, saveScreenshot } from './support/browser.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';
import { applicationSpec } from './support/application-spec.js';

const FLEET = 30;
const SINCE = '2026-01-01T00:00:00.000Z';
const name = (i: number) => `fw-${String(i).padStart(2, '0')}`;
/** firmware-probe's state on device i: 6 Failed, 3 Deploying, the other 21 Running. */
const stateOf = (i: number): AppDeviceState['state'] =>
  i % 10 === 3 || i % 10 === 7 ? 'Failed' : i % 10 === 5 ? 'Deploying' : 'Running';
const devicesIn = (state: string) =>
  Array.from({ length: FLEET }, (_, i) => i)
    .filter((i) => stateOf(i) === state)
    .map(name);
const entry = (state: AppDeviceState['state']): AppDeviceState => ({
  state,
  error: state === 'Failed' ? 'trap: unreachable executed' : null,
  restarts: 0,
  since: SINCE,
});

let platform: TestPlatform;
let store: SqliteResourceStore;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  platform = await startTestPlatform();
  store = new SqliteResourceStore(openDatabase(paths.db(platform.home)));
  const devices = Array.from({ length: FLEET }, (_, i) => ({
    name: name(i),
    spec: { mcuType: 'Stm32F746gDisco' as const, runtime: 'virtual' as const, labels: {} },
    status: {
      phase: 'Connected' as const,
      conditions: [],
      // Device 0 also runs a second app: the filter is by name, not "has any app".
      apps: { 'firmware-probe': entry(stateOf(i)), ...(i === 0 ? { other: entry('Running') } : {}) },
      gateway: { name: 'gw-a', endpoint: '127.0.0.1:1' },
    },
    labels: {},
  }));
  await store.createMany('Device', [
    ...devices,
    // A device without any app.
    { ...devices[0]!, name: 'bare', status: { ...devices[0]!.status, apps: {} } },
  ]);
  const states = Object.fromEntries(devices.map((d, i) => [d.name, entry(stateOf(i))]));
  const status: ApplicationStatus = {
    phase: 'PartiallyRunning',
    devices: states,
    counts: { targeted: FLEET, running: 21, failed: 6, pending: 3 },
    message: '6 of 30 devices failed',
  };
  await store.create(
    'Application',
    'firmware-probe',
    applicationSpec({
      module: { sha256: 'a'.repeat(64), size: 100 },
      strategy: { maxUnavailable: '25%', failureThreshold: 10 },
    }),
    status,
  );
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
});
afterAll(async () => {
  await browser?.close();
  await store?.close();
  await platform?.stop();
});

const names = async (query: string): Promise<string[]> => {
  const res = await platform.api('GET', `/api/v1/devices?${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items.map((d: { metadata: { name: string } }) => d.metadata.name);
};

it('the API lists the devices that have an app, and those where it is in a state, page by page', async () => {
  expect(await names('app=firmware-probe')).toHaveLength(FLEET);
  expect(await names('app=other')).toEqual([name(0)]);
  expect(await names('app=firmware-probe&appState=Failed')).toEqual(devicesIn('Failed'));
  expect(await names('app=firmware-probe&appState=Exited')).toEqual([]);

  // 4 at a time: every Failed device once, and how many are left.
  const first = await platform.api('GET', '/api/v1/devices?app=firmware-probe&appState=Failed&limit=4');
  expect(first.body.metadata.remainingItemCount).toBe(2);
  const next = await platform.api(
    'GET',
    `/api/v1/devices?app=firmware-probe&appState=Failed&limit=4&continue=${first.body.metadata.continue}`,
  );
  expect(
    [...first.body.items, ...next.body.items].map((d: { metadata: { name: string } }) => d.metadata.name),
  ).toEqual(devicesIn('Failed'));
  expect(next.body.metadata.continue).toBeUndefined();

  // What the filters refuse, each a 400 naming the parameter.
  const alone = await platform.api('GET', '/api/v1/devices?appState=Failed');
  expect([alone.status, alone.body.error.field]).toEqual([400, 'appState']);
  expect(alone.body.error.message).toMatch(/^appState needs app/);
  const unknown = await platform.api('GET', '/api/v1/devices?app=firmware-probe&appState=Broken');
  expect([unknown.status, unknown.body.error.field]).toEqual([400, 'appState']);
  expect(unknown.body.error.message).toMatch(/"Broken" is unknown; expected one of Pending, Deploying/);
  const badName = await platform.api('GET', '/api/v1/devices?app=Not_A_Name');
  expect([badName.status, badName.body.error.field]).toEqual([400, 'app']);
  const deleteAlone = await platform.api('DELETE', '/api/v1/devices?appState=Failed');
  expect([deleteAlone.status, deleteAlone.body.error.field]).toEqual([400, 'appState']);

  // The document says so: both list and delete take them.
  const doc = (await platform.api('GET', '/api/v1/openapi.json')).body;
  for (const op of [doc.paths['/devices'].get, doc.paths['/devices'].delete]) {
    const params = op.parameters.map((p: { name: string }) => p.name);
    expect(params).toEqual(expect.arrayContaining(['app', 'appState']));
  }
});

it('a count of a state on the applications page leads to the devices in that state', async () => {
  await page.goto(`${platform.webUrl}/applications`);
  const count = (state: string) => `tr[data-app="firmware-probe"] a[data-state-count="${state}"]`;
  expect(await page.textContent(count('Failed'))).toBe('6 Failed');
  // The chips have their state's colour: Deploying yellow (the generic chip grey came after the
  // state colours in the stylesheet and won), Failed red.
  const background = (selector: string) => page.$eval(selector, (el) => getComputedStyle(el).backgroundColor);
  expect(await background(count('Deploying'))).toBe('rgb(255, 243, 196)');
  expect(await background(count('Failed'))).toBe('rgb(255, 201, 201)');
  expect(await background(count('Running'))).toBe('rgb(201, 242, 208)');
  await saveScreenshot(page, 'applications-state-counts');

  await Promise.all([page.waitForURL(/\/devices\?/), page.click(count('Failed'))]);
  const url = new URL(page.url());
  expect(Object.fromEntries(url.searchParams)).toEqual({ app: 'firmware-probe', appState: 'Failed' });
  expect(await rowNames()).toEqual(devicesIn('Failed'));
  expect(await page.textContent('#device-pager')).toMatch(/1–6 of 6 matching/);
  // A column of the app's state on each device, with why it failed.
  expect(await page.textContent('th[data-app-column]')).toBe('firmware-probe');
  const cells = await page.$$eval('#devices td[data-app-state]', (els) =>
    els.map((el) => [el.getAttribute('data-app-state'), el.querySelector('.msg')?.textContent]),
  );
  expect(cells).toEqual(devicesIn('Failed').map(() => ['Failed', 'trap: unreachable executed']));
  // The form shows the filter it came with, so the next Filter keeps it.
  expect(await page.$eval('select[name="app"]', (el) => (el as HTMLSelectElement).value)).toBe(
    'firmware-probe',
  );
  expect(await page.$eval('select[name="appState"]', (el) => (el as HTMLSelectElement).value)).toBe('Failed');
  await saveScreenshot(page, 'devices-app-failed');
});

const rowNames = () =>
  page.$$eval('#devices tr[data-device]', (els) => els.map((el) => el.getAttribute('data-device')!));

it('the devices page filters by app and its state, and a device whose app recovers leaves the table live', async () => {
  await page.goto(`${platform.webUrl}/devices`);
  expect(await page.$$eval('select[name="app"] option', (els) => els.map((e) => e.textContent))).toEqual([
    'any',
    'firmware-probe',
  ]);
  await page.selectOption('select[name="app"]', 'firmware-probe');
  await page.selectOption('select[name="appState"]', 'Failed');
  await Promise.all([page.waitForURL(/appState=Failed/), page.click('#apply-filter')]);
  expect(await rowNames()).toEqual(devicesIn('Failed'));
  await page.waitForSelector('body[data-synced]');

  // The app restarted and runs again on the first Failed device: its row goes, no reload.
  const [recovered, ...stillFailed] = devicesIn('Failed');
  const navigations: string[] = [];
  page.on('framenavigated', (frame) => navigations.push(frame.url()));
  await store.updateStatus('Device', recovered!, (s) => ({
    ...s,
    apps: { ...s.apps, 'firmware-probe': { ...entry('Running'), restarts: 1 } },
  }));
  await waitFor(
    `${recovered} gone from the Failed list`,
    async () => (await rowNames()).join() === stillFailed.join(),
    15_000,
    50,
  );
  expect(navigations).toEqual([]);

  // appState without app explains itself instead of listing everything.
  await page.goto(`${platform.webUrl}/devices?appState=Failed`);
  expect(await page.textContent('#device-pager')).toMatch(/appState needs app/);
  expect(await rowNames()).toEqual([]);
});

it('the API deletes the devices where the app is in a state, and no other', async () => {
  const deploying = devicesIn('Deploying');
  const res = await platform.api('DELETE', '/api/v1/devices?app=firmware-probe&appState=Deploying');
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body.items.map((d: { name: string }) => d.name)).toEqual(deploying);
  await waitFor(
    'the Deploying devices deprovisioned',
    async () => (await names('app=firmware-probe&appState=Deploying')).length === 0,
    60_000,
    250,
  );
  expect(await names('app=firmware-probe')).toHaveLength(FLEET - deploying.length);
});
