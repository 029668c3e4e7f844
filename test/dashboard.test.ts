/**
 * The newcomer's path in a real browser: open the dashboard, press "Add device", watch the
 * row go Provisioning → Connected without a reload, follow the workflow link; a Failed
 * device gets a Retry button that starts a new run.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_VIRTUAL_FIRMWARE } from '../runtimes/virtual.js';
import { launchBrowser } from './support/browser.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  platform = await startTestPlatform();
  browser = await launchBrowser();
  page = await browser.newPage();
});
afterAll(async () => {
  await browser?.close();
  await platform?.stop();
});

const phaseOf = (name: string) => page.getAttribute(`tr[data-device="${name}"]`, 'data-phase');

it('adds a device from the page and shows it reach Connected live, step by step', async () => {
  await page.goto(platform.webUrl);
  await page.fill('input[name="name"]', 'ui-dev-1');
  const navigations: string[] = [];
  page.on('framenavigated', (frame) => navigations.push(frame.url()));
  await page.click('#add-device');

  const phases = new Set<string>();
  await waitFor(
    'ui-dev-1 row Connected',
    async () => {
      const phase = await phaseOf('ui-dev-1');
      if (phase) phases.add(phase);
      return phase === 'Connected';
    },
    60_000,
    50,
  );
  expect([...phases].some((p) => p === 'Pending' || p === 'Provisioning')).toBe(true);
  expect(navigations).toEqual([]); // no reload: htmx swapped the rows in place

  const states = await page.$$eval('tr[data-device="ui-dev-1"] .step', (els) =>
    els.map((el) => `${el.getAttribute('data-step')}=${el.getAttribute('data-state')}`),
  );
  expect(states).toEqual([
    'issueCertificate=Succeeded',
    'prepareVolume=Succeeded',
    'copyFirmware=Succeeded',
    'startEmulator=Succeeded',
    'assignGateway=Succeeded',
    'writeEndpoint=Succeeded',
    'awaitSession=Succeeded',
  ]);
  // The form offers a fresh name, so pressing the button again adds another device.
  expect(await page.inputValue('input[name="name"]')).toMatch(/^stm32f7-[a-z0-9]+$/);
  const link = await page.getAttribute('tr[data-device="ui-dev-1"] a', 'href');
  expect(link).toBe('http://localhost:8233/namespaces/default/workflows/provision-ui-dev-1');
});

it('escapes what users type and shows validation errors in the page', async () => {
  await page.fill('input[name="name"]', 'x');
  await page.evaluate(() => {
    const input = document.querySelector('input[name="name"]') as HTMLInputElement;
    input.removeAttribute('pattern');
    input.value = '<img src=x onerror=alert(1)>';
  });
  await page.click('#add-device');
  const alert = await page.waitForSelector('[role="alert"]');
  expect(await alert.textContent()).toContain('is not a DNS label');
  expect(await page.$('img[src="x"]')).toBeNull();
});

it('offers Retry on a Failed device, and the new run picks up where the failed one stopped', async () => {
  const firmware = path.join(platform.home, 'late-firmware.fw.json');
  const res = await platform.api('POST', '/api/v1/devices', { name: 'ui-retry', firmware });
  expect(res.status).toBe(202);
  await waitFor('ui-retry Failed', async () => (await phaseOf('ui-retry')) === 'Failed');
  const failedStep = await page.getAttribute('tr[data-device="ui-retry"] .step.Failed', 'data-step');
  expect(failedStep).toBe('copyFirmware');
  expect(await page.textContent('tr[data-device="ui-retry"] .msg')).toContain('does not exist');

  fs.copyFileSync(DEFAULT_VIRTUAL_FIRMWARE, firmware); // the operator fixes the cause…
  await page.click('tr[data-device="ui-retry"] button:has-text("Retry")'); // …and presses Retry
  await waitFor('ui-retry Connected', async () => (await phaseOf('ui-retry')) === 'Connected', 60_000);
  const runs = [];
  for await (const run of platform.client.workflow.list({ query: `WorkflowId = "provision-ui-retry"` }))
    runs.push(run);
  expect(runs.map((r) => r.status.name).sort()).toEqual(['COMPLETED', 'FAILED']);
});
