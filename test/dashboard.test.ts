/**
 * The operator's dashboard in a real browser (Debian's headless Chromium) against a real
 * platform: add a device and watch it go Provisioning → Connected without a reload while its
 * step timeline (read from the Temporal workflow history) fills in; Retry a Failed device; the
 * topology, gateways and applications pages update live over server-sent events; log lines
 * with HTML show as text; state-changing requests without the CSRF token, or from another
 * site, are refused. A screenshot of every page is kept under test-artifacts/.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_VIRTUAL_FIRMWARE } from '../runtimes/virtual.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { launchBrowser, saveScreenshot } from './support/browser.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  await buildApps({ log: () => {} });
  platform = await startTestPlatform();
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('dialog', (dialog) => void dialog.accept()); // hx-confirm
});
afterAll(async () => {
  await browser?.close();
  await platform?.stop();
});

const phaseOf = (name: string) => page.getAttribute(`tr[data-device="${name}"]`, 'data-phase');
const apiDevice = async (name: string) => (await platform.api('GET', `/api/v1/devices/${name}`)).body;

it('adds a device from the page and shows it reach Connected live, step by step', async () => {
  const polls: string[] = [];
  page.on('request', (req) => {
    if (req.method() === 'GET' && new URL(req.url()).pathname === '/ui/devices') polls.push(req.url());
  });
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
  expect(navigations).toEqual([]); // no reload: htmx and the event stream swapped the rows in place
  expect(polls).toEqual([]); // and nothing polled: updates came over server-sent events

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
  const link = await page.getAttribute('tr[data-device="ui-dev-1"] a.workflow', 'href');
  expect(link).toBe('http://localhost:8233/namespaces/default/workflows/provision-ui-dev-1');
  // The overview also shows every process's health, the device host's too.
  await waitFor('health rows', async () => (await page.$$('tr[data-process][data-status="ok"]')).length >= 5);
  const processes = await page.$$eval('tr[data-process]', (els) =>
    els.map((el) => `${el.getAttribute('data-kind')}=${el.getAttribute('data-status')}`),
  );
  expect(processes).toEqual(
    expect.arrayContaining(['web=ok', 'temporal=ok', 'orchestrator=ok', 'gateway=ok', 'host=ok']),
  );
  await saveScreenshot(page, 'overview');
});

it('shows the step timeline fill in from the workflow history on the device page, without a reload', async () => {
  await page.goto(`${platform.webUrl}/devices`);
  await page.fill('input[name="name"]', 'ui-late');
  await page.fill('input[name="gateway"]', 'gw-2'); // a gateway that is not running yet
  await page.click('#add-device');
  await page.click('tr[data-device="ui-late"] a.device-link');
  await page.waitForURL(/\/devices\/ui-late$/);
  const navigations: string[] = [];
  page.on('framenavigated', (frame) => navigations.push(frame.url()));

  const state = (step: string) =>
    page.getAttribute(`[data-timeline="provisioning"] li[data-step="${step}"]`, 'data-state');
  // The steps before placement are done; placement keeps retrying, and the page says why.
  await waitFor('assignGateway retrying', async () => {
    const msg = await page.textContent('[data-timeline="provisioning"] li[data-step="assignGateway"]');
    return (await state('startEmulator')) === 'Succeeded' && /not ready/.test(msg ?? '');
  });
  expect(await page.getAttribute('#timeline [data-source]', 'data-source')).toBe('history');
  expect(await state('assignGateway')).toBe('Running');
  expect(await state('awaitSession')).toBe('Pending');
  expect(await page.getAttribute('#device-summary [data-phase]', 'data-phase')).toBe('Provisioning');
  await saveScreenshot(page, 'device-provisioning');

  // The operator starts the missing gateway; the timeline completes in place.
  await platform.startGateway('gw-2');
  await waitFor(
    'ui-late Connected on its page',
    async () => (await page.getAttribute('#device-summary [data-phase]', 'data-phase')) === 'Connected',
    90_000,
  );
  await waitFor('every step Succeeded', async () => {
    const states = await page.$$eval('[data-timeline="provisioning"] li', (els) =>
      els.map((el) => el.getAttribute('data-state')),
    );
    return states.length === 7 && states.every((s) => s === 'Succeeded');
  });
  expect(navigations).toEqual([]);
  expect(await page.textContent('#device-status')).toContain('gw-2');
  await saveScreenshot(page, 'device');
});

it('offers Retry on a Failed device, and the new run picks up where the failed one stopped', async () => {
  await page.goto(`${platform.webUrl}/devices`);
  const firmware = path.join(platform.home, 'late-firmware.fw.json');
  const res = await platform.api('POST', '/api/v1/devices', { name: 'ui-retry', firmware });
  expect(res.status).toBe(202);
  await waitFor('ui-retry Failed', async () => (await phaseOf('ui-retry')) === 'Failed');
  const failedStep = await page.getAttribute('tr[data-device="ui-retry"] .step.Failed', 'data-step');
  expect(failedStep).toBe('copyFirmware');
  expect(await page.textContent('tr[data-device="ui-retry"] .msg')).toContain('does not exist');
  await saveScreenshot(page, 'devices-failed');

  fs.copyFileSync(DEFAULT_VIRTUAL_FIRMWARE, firmware); // the operator fixes the cause…
  await page.click('tr[data-device="ui-retry"] button:has-text("Retry")'); // …and presses Retry
  await waitFor('ui-retry Connected', async () => (await phaseOf('ui-retry')) === 'Connected', 60_000);
  // Connected is recorded by the run's last activity; the run completes (and Temporal's
  // visibility store catches up) a moment later.
  const runStatuses = async () => {
    const statuses: string[] = [];
    for await (const run of platform.client.workflow.list({ query: `WorkflowId = "provision-ui-retry"` }))
      statuses.push(run.status.name);
    return statuses.sort().join(',');
  };
  await waitFor(
    'one failed run and one completed run',
    async () => (await runStatuses()) === 'COMPLETED,FAILED',
  );
});

it('escapes what users type and shows validation errors in the page', async () => {
  await page.goto(`${platform.webUrl}/devices`);
  await page.evaluate(() => {
    const input = document.querySelector('input[name="name"]') as HTMLInputElement;
    input.removeAttribute('pattern');
    input.value = '<img src=x onerror=alert(1)>';
  });
  await page.click('#add-device');
  const alert = await page.waitForSelector('[role="alert"]');
  expect(await alert.textContent()).toContain('is not a DNS label');
  expect(await page.$('img[src="x"]')).toBeNull();

  // A live update of the table must not wipe the error before the operator has read it.
  const updates = async () => Number(await page.getAttribute('body', 'data-updates'));
  const before = await updates();
  expect((await platform.api('POST', '/api/v1/devices', { name: 'ui-after-error' })).status).toBe(202);
  await waitFor('a live update of the devices table', async () => (await updates()) > before);
  expect(await page.textContent('[role="alert"]')).toContain('is not a DNS label');
});

it('shows log lines that contain HTML as text, live and after a reload', async () => {
  await page.goto(`${platform.webUrl}/devices/ui-dev-1`);
  const evil = '<b id="evil-b">bold</b><img id="evil-img" src=x onerror="document.title=1">';
  const res = await platform.api('POST', '/api/v1/applications', {
    name: 'hello',
    module: fs.readFileSync(path.join(DIST_DIR, 'hello.wasm')).toString('base64'),
    target: { devices: ['ui-dev-1'] },
    env: { GREETING: evil },
  });
  expect(res.status).toBe(202);
  const arrived = () => page.$$eval('#log-lines .log-msg', (els) => els.map((el) => el.textContent));
  await waitFor('the greeting in the live log', async () => (await arrived()).includes(evil));
  expect(await page.$('#evil-b')).toBeNull();
  expect(await page.$('#evil-img')).toBeNull();
  await waitFor('hello listed under apps', async () => (await page.$('#apps tr[data-app="hello"]')) !== null);
  await saveScreenshot(page, 'device-logs');

  await page.reload(); // the server-rendered path escapes too
  expect(await arrived()).toContain(evil);
  expect(await page.$('#evil-b')).toBeNull();
  expect(await page.$('#evil-img')).toBeNull();
  expect(await page.title()).not.toBe('1');
});

it('lists applications with per-device states, and deletes one from the page', async () => {
  await page.goto(`${platform.webUrl}/applications`);
  await waitFor(
    'hello Running',
    async () => (await page.getAttribute('tr[data-app="hello"]', 'data-phase')) === 'Running',
  );
  expect(await page.getAttribute('tr[data-app="hello"] [data-device="ui-dev-1"]', 'data-state')).toMatch(
    /Running|Exited/,
  );
  await saveScreenshot(page, 'applications');
  await page.click('tr[data-app="hello"] button:has-text("Delete")');
  await waitFor(
    'hello gone or stopped',
    async () => {
      const row = await page.$('tr[data-app="hello"]');
      return !row || (await row.getAttribute('data-phase')) === 'Stopped';
    },
    60_000,
  );
});

it('draws an edge from the gateway to each connected device, and adds new ones live', async () => {
  await page.goto(`${platform.webUrl}/topology`);
  const devices = (await platform.api('GET', '/api/v1/devices?phase=Connected')).body.items as any[];
  expect(devices.length).toBeGreaterThanOrEqual(3);
  for (const d of devices) {
    const edge = await page.$(`line[data-edge="${d.status.gateway.name}->${d.metadata.name}"]`);
    expect(edge, `edge to ${d.metadata.name}`).not.toBeNull();
    expect(await edge!.getAttribute('data-phase')).toBe('Connected');
  }
  expect(await page.$('g[data-gateway="gw-2"]')).not.toBeNull();
  expect(await page.$('line[data-edge="gw-2->ui-late"]')).not.toBeNull();

  expect((await platform.api('POST', '/api/v1/devices', { name: 'topo-1' })).status).toBe(202);
  await waitFor(
    'topo-1 edge Connected',
    async () => (await page.getAttribute('line[data-edge$="->topo-1"]', 'data-phase')) === 'Connected',
  );
  await saveScreenshot(page, 'topology');
});

it('shows gateways with their health', async () => {
  await page.goto(`${platform.webUrl}/gateways`);
  await waitFor('both gateways Ready', async () => {
    const rows = await page.$$eval('#gateways tr[data-gateway]', (els) =>
      els.map((el) => `${el.getAttribute('data-gateway')}=${el.getAttribute('data-phase')}`),
    );
    return rows.includes('gateway-0=Ready') && rows.includes('gw-2=Ready');
  });
  expect(await page.textContent('tr[data-gateway="gateway-0"]')).toContain('sessions');
  await saveScreenshot(page, 'gateways');
});

it('creates devices in bulk with a progress bar, and filters the table', async () => {
  await page.goto(`${platform.webUrl}/devices`);
  await page.fill('input[name="prefix"]', 'bulk');
  await page.fill('input[name="count"]', '3');
  await page.fill('form[hx-post="/ui/devices/bulk"] input[name="labels"]', 'batch=b1');
  await page.click('#bulk-create');
  await page.waitForSelector('.bulk progress.connected');
  await waitFor(
    '3 of 3 connected',
    async () => (await page.getAttribute('.bulk', 'data-connected')) === '3',
    90_000,
  );
  expect(await page.getAttribute('.bulk progress.connected', 'value')).toBe('3');
  await saveScreenshot(page, 'devices-bulk');

  await page.fill('input[name="labelSelector"]', 'batch=b1');
  await page.click('#apply-filter');
  await page.waitForURL(/labelSelector=batch/);
  const shown = await page.$$eval('#devices tr[data-device]', (els) =>
    els.map((el) => el.getAttribute('data-device')),
  );
  expect(shown.sort()).toEqual(['bulk-1', 'bulk-2', 'bulk-3']);
  await page.goto(`${platform.webUrl}/devices?phase=Failed`);
  expect(await page.$$('#devices tr[data-device]')).toHaveLength(0);
  await page.goto(`${platform.webUrl}/devices?gateway=gw-2`);
  const onGw2 = await page.$$eval('#devices tr[data-device]', (els) =>
    els.map((el) => el.getAttribute('data-device')),
  );
  const expected = (await platform.api('GET', '/api/v1/devices?gateway=gw-2')).body.items.map(
    (d: any) => d.metadata.name,
  );
  expect(onGw2).toContain('ui-late');
  expect(onGw2.sort()).toEqual(expected.sort());
  expect(expected.every((n: string) => n)).toBe(true);
  await saveScreenshot(page, 'devices');
});

it('restarts and deletes a device from its page', async () => {
  await page.goto(`${platform.webUrl}/devices/bulk-1`);
  expect(await page.getAttribute('#btn-rotate', 'disabled')).toBeNull(); // Connected: rotation offered
  expect(await page.getAttribute('#btn-rotate', 'title')).toMatch(/new certificate/i);
  const runs = async () => {
    const list = [];
    for await (const run of platform.client.workflow.list({ query: `WorkflowId = "provision-bulk-1"` }))
      list.push(run.status.name);
    return list;
  };
  expect(await runs()).toEqual(['COMPLETED']);
  const firstStart = await page.textContent(
    '[data-timeline="provisioning"] li[data-step="issueCertificate"] .when',
  );
  const [restarted] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/ui/devices/bulk-1/restart')),
    page.click('#btn-restart'),
  ]);
  expect(restarted.status(), (await page.textContent('#live-problem')) ?? '').toBe(204);
  // A second provisioning run completes, and the page's timeline now shows that run.
  await platform.client.workflow.getHandle('provision-bulk-1').result(); // the new run's outcome
  await waitFor('a second completed run', async () => {
    const list = await runs();
    return list.length === 2 && list.every((s) => s === 'COMPLETED');
  });
  await waitFor('the timeline of the new run', async () => {
    const start = await page.textContent(
      '[data-timeline="provisioning"] li[data-step="issueCertificate"] .when',
    );
    return (
      start !== firstStart &&
      (await page.getAttribute('#device-summary [data-phase]', 'data-phase')) === 'Connected'
    );
  });

  await page.click('#btn-delete');
  await page.waitForURL(/\/devices$/);
  await waitFor('bulk-1 gone', async () => (await apiDevice('bulk-1'))?.error?.code === 'NotFound', 60_000);
});

it('refuses state-changing requests without the CSRF token or from another site', async () => {
  // Without the token header, from a script…
  const plain = await fetch(`${platform.webUrl}/ui/devices`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'name=csrf-1',
  });
  expect(plain.status).toBe(403);
  // …or from the dashboard's own origin in the browser.
  await page.goto(`${platform.webUrl}/devices`);
  const inPage = await page.evaluate(() =>
    fetch('/ui/devices/ui-dev-1/delete', { method: 'POST' }).then((r) => r.status),
  );
  expect(inPage).toBe(403);

  // A page on another origin posting a form to the API is refused as cross-site.
  const attacker = http.createServer((_req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(`<form id="f" method="post" action="${platform.webUrl}/api/v1/devices/ui-dev-1/restart"></form>
      <form id="g" method="post" action="${platform.webUrl}/ui/devices/ui-dev-1/delete"></form>`);
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  try {
    const attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`;
    for (const form of ['f', 'g']) {
      await page.goto(attackerUrl);
      const [response] = await Promise.all([
        page.waitForNavigation(),
        page.evaluate((id) => (document.getElementById(id) as HTMLFormElement).submit(), form),
      ]);
      expect(response!.status()).toBe(403);
    }
  } finally {
    attacker.close();
  }
  expect((await apiDevice('csrf-1'))?.error?.code).toBe('NotFound');
  expect((await apiDevice('ui-dev-1')).status.phase).toBe('Connected');
});
