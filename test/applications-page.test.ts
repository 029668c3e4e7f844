/**
 * The applications page in a real browser (Debian's headless Chromium) against a real
 * platform with three virtual devices: upload a module through the form (multipart, with the
 * page's CSRF token) and watch its per-device states arrive without a reload; a canary that
 * waits for approval offers Promote and Abort, and Abort rolls it back while the other devices
 * are left alone; Promote finishes the rollout; Stop stops it. Screenshots go to test-artifacts/.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Application } from '../common/resources.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { launchBrowser, saveScreenshot } from './support/browser.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;
let browser: Browser;
let page: Page;
const DEVICES = ['ui-1', 'ui-2', 'ui-3'];

beforeAll(async () => {
  await buildApps({ only: ['hello', 'blinky'], log: () => {} });
  platform = await startTestPlatform();
  for (const name of DEVICES) {
    expect((await platform.api('POST', '/api/v1/devices', { name, labels: { group: 'ui' } })).status).toBe(
      202,
    );
  }
  await waitFor('devices Connected', async () => {
    const items = (await platform.api('GET', '/api/v1/devices?phase=Connected')).body.items as unknown[];
    return items.length === DEVICES.length;
  });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('dialog', (dialog) => void dialog.accept()); // hx-confirm
});
afterAll(async () => {
  await browser?.close();
  await platform?.stop();
});

const appState = (app: string) => page.getAttribute(`tr[data-app="${app}"]`, 'data-phase');
const deviceState = (app: string, device: string) =>
  page.getAttribute(`tr[data-app="${app}"] [data-device="${device}"]`, 'data-state');
const api = async (name: string) =>
  (await platform.api('GET', `/api/v1/applications/${name}`)).body as Application;

/** Fills the upload form; `fields` are input names → values (checkboxes: true to tick). */
async function fillForm(file: string, fields: Record<string, string | boolean>) {
  await page.setInputFiles('#deploy-form input[name="wasm"]', path.join(DIST_DIR, file));
  for (const [name, value] of Object.entries(fields)) {
    const selector = `#deploy-form [name="${name}"]`;
    if (typeof value === 'boolean') await page.setChecked(selector, value);
    else if (name === 'strategy') await page.selectOption(selector, value);
    else await page.fill(selector, value);
  }
}

it('uploads hello through the form and shows each device reach Running live, without a reload', async () => {
  await page.goto(`${platform.webUrl}/applications`);
  const navigations: string[] = [];
  page.on('framenavigated', (frame) => navigations.push(frame.url()));
  await fillForm('hello.wasm', {
    name: 'hello-ui',
    devices: 'ui-1,ui-2',
    env: '{"GREETING":"hi from the form"}',
  });
  await page.click('#deploy-app');
  await page.waitForSelector('#deploy-result [data-deployed="hello-ui"]');

  const seen = new Set<string>();
  await waitFor('both devices Running (hello then exits)', async () => {
    const states = await Promise.all(['ui-1', 'ui-2'].map((d) => deviceState('hello-ui', d)));
    states.forEach((s) => s && seen.add(s));
    return states.every((s) => s === 'Running' || s === 'Exited');
  });
  // The rows changed in place: the page was never reloaded, and the device chips came in live.
  expect(navigations).toEqual([]);
  expect(await page.$('tr[data-app="hello-ui"] [data-device="ui-3"]')).toBeNull();
  await waitFor('hello-ui Running', async () => (await appState('hello-ui')) === 'Running');
  const a = await api('hello-ui');
  expect(a.spec.env).toEqual({ GREETING: 'hi from the form' });
  await waitFor('hello output', async () => {
    const items = (await platform.api('GET', '/api/v1/devices/ui-1/logs?app=hello-ui')).body.items;
    return items.some((e: { message: string }) => e.message === 'hi from the form');
  });
  await saveScreenshot(page, 'applications-upload');
});

it('names what is wrong with an upload next to the form and creates nothing', async () => {
  await page.goto(`${platform.webUrl}/applications`);
  await fillForm('hello.wasm', { name: 'two-targets', devices: 'ui-1', all: true });
  await page.click('#deploy-app');
  const error = await page.waitForSelector('#deploy-result .error');
  expect(await error.textContent()).toMatch(/exactly one of devices, selector or all \(got devices, all\)/);
  expect((await platform.api('GET', '/api/v1/applications/two-targets')).status).toBe(404);
});

it('a canary waiting for approval offers Promote and Abort; Abort rolls it back and leaves the others alone', async () => {
  await page.goto(`${platform.webUrl}/applications`);
  await fillForm('blinky.wasm', {
    name: 'blinky-canary',
    devices: '',
    selector: 'group=ui',
    all: false,
    strategy: 'Canary',
    canary: '1',
    pauseAfterCanary: true,
    failureThreshold: '0',
  });
  await page.click('#deploy-app');
  await waitFor(
    'Promote and Abort offered',
    async () => (await page.$('tr[data-app="blinky-canary"] button[data-action="abort"]')) !== null,
    60_000,
  );
  expect(await page.$('tr[data-app="blinky-canary"] button[data-action="promote"]')).not.toBeNull();
  const waiting = await api('blinky-canary');
  expect(waiting.status.awaitingPromotion).toBe(true);
  const canary = Object.entries(waiting.status.devices).filter(([, s]) => s.state === 'Running');
  expect(canary).toHaveLength(1);
  // The others have nothing yet, and the page says what they wait for (they were plain Pending).
  const others = DEVICES.filter((d) => d !== canary[0]![0]);
  await waitFor('the others waiting for promotion on the page', async () => {
    for (const d of others) {
      const chip = await page.textContent(`tr[data-app="blinky-canary"] [data-device="${d}"]`);
      if (chip?.trim() !== `${d}: Pending · waiting for promotion`) return undefined;
    }
    return true;
  });
  for (const d of others)
    expect(waiting.status.devices[d]).toMatchObject({ state: 'Pending', awaitingRollout: true });
  await saveScreenshot(page, 'applications-canary-waiting');

  await page.click('tr[data-app="blinky-canary"] button[data-action="abort"]');
  await waitFor(
    'RolledBack on the page',
    async () => (await appState('blinky-canary')) === 'RolledBack',
    60_000,
  );
  expect(await page.$('tr[data-app="blinky-canary"] button[data-action="promote"]')).toBeNull();
  const after = await api('blinky-canary');
  expect(after.status.message).toMatch(/aborted by an operator after the canary/);
  const [canaryDevice] = canary[0]!;
  expect(await deviceState('blinky-canary', canaryDevice)).toBe('RolledBack');
  for (const d of others) {
    // The other devices never ran it: nothing in their logs from this app, and the page lists
    // no state of it on them (not left Pending, nor RolledBack as if it had run there).
    const items = (await platform.api('GET', `/api/v1/devices/${d}/logs?app=blinky-canary`)).body.items;
    expect(items).toEqual([]);
    expect(await page.$(`tr[data-app="blinky-canary"] [data-device="${d}"]`)).toBeNull();
  }
  await saveScreenshot(page, 'applications-canary-aborted');
});

it('Promote finishes a waiting canary; Stop stops the app on its devices', async () => {
  await page.goto(`${platform.webUrl}/applications`);
  await fillForm('blinky.wasm', {
    name: 'blinky-promoted',
    selector: 'group=ui',
    strategy: 'Canary',
    pauseAfterCanary: true,
  });
  await page.click('#deploy-app');
  await waitFor(
    'Promote offered',
    async () => (await page.$('tr[data-app="blinky-promoted"] button[data-action="promote"]')) !== null,
    60_000,
  );
  await page.click('tr[data-app="blinky-promoted"] button[data-action="promote"]');
  await waitFor('Running on all 3', async () => (await appState('blinky-promoted')) === 'Running', 60_000);
  for (const d of DEVICES) expect(await deviceState('blinky-promoted', d)).toBe('Running');

  await page.click('tr[data-app="blinky-promoted"] button[data-action="stop"]');
  await waitFor('Stopped', async () => (await appState('blinky-promoted')) === 'Stopped', 60_000);
  for (const d of DEVICES) expect(await deviceState('blinky-promoted', d)).toBe('Stopped');
  expect(await page.$('tr[data-app="blinky-promoted"] button[data-action="stop"]')).toBeNull();
  await saveScreenshot(page, 'applications');
});
