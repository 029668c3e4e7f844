/**
 * The `wasmbed` CLI as a user runs it (node cli/main.mjs, a real child process) against a
 * real platform: create a device with --watch and exit 0 once it is Connected; list, get and
 * logs with -o json that parses; deploy an app with a progress bar; app get during a paused canary
 * names what the devices it has not reached run; bad usage exits 2; a batch
 * with its progress bar (plain lines off a terminal), lists that follow every page.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/repo-root.js';
import { DEFAULT_VIRTUAL_FIRMWARE } from '../runtimes/virtual.js';
import { buildApps, DIST_DIR } from '../scripts/build-apps.mjs';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;

beforeAll(async () => {
  await buildApps({ log: () => {} });
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform?.stop();
});

function wasmbed(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'cli', 'main.mjs'), ...args], {
      env: { ...process.env, WASMBED_URL: platform.webUrl },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

it('creates a device with --watch and exits 0 once it is Connected', async () => {
  const r = await wasmbed('device', 'create', 'cli-1', '--label', 'group=cli', '--watch');
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/cli-1 Connected via gateway-0/);
  expect(r.stderr).toMatch(/\[#+\] 7\/7 Connected/); // the progress bar reached the end
  const device = (await platform.api('GET', '/api/v1/devices/cli-1')).body;
  expect(device.status.phase).toBe('Connected');
  expect(device.metadata.labels).toEqual({ group: 'cli' });
});

it('prints tables, and JSON with -o json that parses', async () => {
  const list = await wasmbed('device', 'list');
  expect(list.code).toBe(0);
  expect(list.stdout.split('\n')[0]).toMatch(/^NAME\s+PHASE\s+MCU\s+GATEWAY/);
  expect(list.stdout).toMatch(/cli-1\s+Connected\s+Stm32F746gDisco\s+gateway-0\s+7\/7\s+group=cli/);

  const json = await wasmbed('device', 'list', '-o', 'json');
  expect(json.code).toBe(0);
  expect(JSON.parse(json.stdout).items.map((d: any) => d.metadata.name)).toEqual(['cli-1']);
  const get = await wasmbed('device', 'get', 'cli-1', '-o', 'json');
  expect(JSON.parse(get.stdout).status.phase).toBe('Connected');
  const created = await wasmbed('device', 'create', 'cli-2', '--watch', '-o', 'json');
  expect(created.code).toBe(0);
  expect(JSON.parse(created.stdout).status.phase).toBe('Connected');
  const status = await wasmbed('status', '-o', 'json');
  expect(JSON.parse(status.stdout).processes.map((p: any) => p.kind)).toEqual(
    expect.arrayContaining(['web', 'temporal', 'orchestrator', 'gateway', 'host']),
  );
});

it('deploys an app with a progress bar and shows its output with logs', async () => {
  const r = await wasmbed(
    'app',
    'deploy',
    path.join(DIST_DIR, 'hello.wasm'),
    '--to',
    'cli-1,cli-2',
    '--strategy',
    'Rolling',
    '--max-unavailable',
    '50%',
    '--env',
    'GREETING=hello <from> the cli',
  );
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/hello \[#+\] 2\/2 running/);
  expect(r.stdout).toMatch(/hello: Running/);
  const logs = await wasmbed('logs', 'cli-1', '--app', 'hello', '-o', 'json');
  const lines = logs.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(lines.map((l) => l.message)).toContain('hello <from> the cli');
  const apps = await wasmbed('app', 'list', '-o', 'json');
  expect(JSON.parse(apps.stdout).items[0].status.phase).toBe('Running');
});

it('updates an app: a new greeting, then a new module, keeping what is not given', async () => {
  const greeting = await wasmbed('app', 'update', 'hello', '--env', 'GREETING=hello again');
  expect(greeting.code, greeting.stderr).toBe(0);
  expect(greeting.stderr).toMatch(/updating as deploy-hello/);
  expect(greeting.stdout).toMatch(/hello: Running/);
  await waitFor('the new greeting in the log', async () => {
    const logs = await wasmbed('logs', 'cli-2', '--app', 'hello', '-o', 'json');
    return logs.stdout.includes('hello again');
  });
  let app = JSON.parse((await wasmbed('app', 'get', 'hello', '-o', 'json')).stdout);
  // Only the environment changed: the target and strategy are the ones it was deployed with.
  expect(app.spec.env).toEqual({ GREETING: 'hello again' });
  expect(app.spec.target).toEqual({ devices: ['cli-1', 'cli-2'] });
  expect(app.spec.strategy).toMatchObject({ type: 'Rolling', maxUnavailable: '50%' });
  const first = app.spec.module.sha256;

  const module = await wasmbed('app', 'update', 'hello', path.join(DIST_DIR, 'blinky.wasm'));
  expect(module.code, module.stderr).toBe(0);
  app = JSON.parse((await wasmbed('app', 'get', 'hello', '-o', 'json')).stdout);
  expect(app.spec.module.sha256).not.toBe(first);
  expect(app.status.previousModule.sha256).toBe(first);
  expect(app.spec.env).toEqual({ GREETING: 'hello again' });
  expect(app.status.phase).toBe('Running');
  // The table names both versions by the start of their hash.
  const shown = (await wasmbed('app', 'get', 'hello')).stdout;
  expect(shown).toMatch(
    new RegExp(`^Module: +${app.spec.module.sha256.slice(0, 12)} \\(\\d+ bytes\\)$`, 'm'),
  );
  expect(shown).toMatch(new RegExp(`^Previous: +${first.slice(0, 12)} \\(\\d+ bytes\\)$`, 'm'));
  // And the strategy with its wave size as it was given (a percentage here).
  expect(shown).toMatch(/^Strategy: +Rolling, 50% at a time, tolerates \d+ failed$/m);

  // Deploying it again under its name says how to update it instead.
  const again = await wasmbed('app', 'deploy', path.join(DIST_DIR, 'hello.wasm'), '--to', 'cli-1');
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(
    /AlreadyExists: .*; a new version of it: wasmbed app update hello .*hello\.wasm/,
  );

  const nothing = await wasmbed('app', 'update', 'hello');
  expect(nothing.code).toBe(2);
  expect(nothing.stderr).toMatch(/nothing to update/);
  const unknown = await wasmbed('app', 'update', 'nosuch', '--env', 'A=1');
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/NotFound: Application "nosuch" not found/);
});

it('app get says what the devices a paused canary has not reached run, and that they wait for promotion', async () => {
  const update = await wasmbed(
    'app',
    'update',
    'hello',
    '--env',
    'GREETING=canary',
    '--strategy',
    'Canary',
    '--canary',
    '1',
    '--pause-after-canary',
    '--detach',
  );
  expect(update.code, update.stderr).toBe(0);
  const waiting = await waitFor('the canary waiting for promotion', async () => {
    const app = JSON.parse((await wasmbed('app', 'get', 'hello', '-o', 'json')).stdout);
    return app.status.awaitingPromotion ? app : undefined;
  });
  const marked = Object.keys(waiting.status.devices).filter((d) => waiting.status.devices[d].awaitingRollout);
  expect(marked).toHaveLength(1);
  const other = marked[0]!;
  // It still runs the version before (it showed Pending).
  const shown = (await wasmbed('app', 'get', 'hello')).stdout;
  expect(shown).toMatch(
    new RegExp(`^${other} +Running \\(previous version\\) · waiting for promotion +0`, 'm'),
  );

  expect((await wasmbed('app', 'promote', 'hello')).code).toBe(0);
  await waitFor('hello Running on both after the promote', async () => {
    const app = JSON.parse((await wasmbed('app', 'get', 'hello', '-o', 'json')).stdout);
    return app.status.phase === 'Running' && !app.status.devices[other].awaitingRollout;
  });
  expect((await wasmbed('app', 'get', 'hello')).stdout).not.toMatch(/waiting for/);
});

it('follows logs with -f until interrupted', async () => {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'cli', 'main.mjs'), 'logs', 'cli-1', '-f'], {
    env: { ...process.env, WASMBED_URL: platform.webUrl },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  // Interrupt only once the follow is really streaming: a fixed sleep raced the CLI's start on a
  // loaded machine, and a SIGINT before its handler is installed kills it (exit code null).
  await waitFor('the followed log line', () => out.includes('hello <from> the cli'));
  child.kill('SIGINT');
  const code = await new Promise((resolve) => child.on('exit', resolve));
  expect(code).toBe(0);
  expect(out).toContain('hello <from> the cli');
});

it('lists and deletes the devices that have an app, or where it is in a state', async () => {
  const listed = async (...args: string[]) => {
    const r = await wasmbed('device', 'list', ...args, '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout).items.map((d: any) => d.metadata.name);
  };
  // hello (blinky since its update) runs on cli-1 and cli-2, the only devices so far.
  await waitFor('hello Running on both devices', async () =>
    (await listed('--app', 'hello', '--app-state', 'Running')).join() === 'cli-1,cli-2' ? true : undefined,
  );
  expect(await listed('--app', 'hello')).toEqual(['cli-1', 'cli-2']);
  expect(await listed('--app', 'hello', '--app-state', 'Failed')).toEqual([]);
  expect(await listed('--app', 'nothing-deployed')).toEqual([]);
  const table = await wasmbed(
    'device',
    'list',
    '--app',
    'hello',
    '--app-state',
    'Running',
    '--prefix',
    'cli-2',
  );
  expect(table.stdout).toMatch(/^cli-2\s+Connected/m);
  expect(table.stdout).not.toMatch(/^cli-1/m);
  // A delete by the same filters: nothing is Failed, so nothing is deleted.
  const none = await wasmbed('device', 'delete', '--app', 'hello', '--app-state', 'Failed');
  expect([none.code, none.stdout.trim()]).toEqual([0, 'no device matches']);
  expect(await listed('--app', 'hello')).toEqual(['cli-1', 'cli-2']);

  const alone = await wasmbed('device', 'list', '--app-state', 'Failed');
  expect(alone.code).toBe(2);
  expect(alone.stderr).toMatch(/--app-state needs --app/);
  const unknown = await wasmbed('device', 'list', '--app', 'hello', '--app-state', 'Broken');
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/appState "Broken" is unknown; expected one of Pending, Deploying, Running/);
});

it('fails clearly: unknown device 1, bad usage 2, Failed device 1, and retry --watch recovers it', async () => {
  const missing = await wasmbed('device', 'get', 'nope');
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/Device "nope" not found/);
  const usage = await wasmbed('device', 'frobnicate');
  expect(usage.code).toBe(2);
  const noCanary = await wasmbed('app', 'abort', 'nope');
  expect(noCanary.code).toBe(1);
  expect(noCanary.stderr).toMatch(/Application "nope" not found/);
  const bad = await wasmbed('device', 'create', 'x', '--mcu', 'Esp32');
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/mcuType "Esp32" is unknown.*\(field: mcuType\)/);
  // --runtime reaches the API (it was dropped: the device came up virtual)...
  const runtime = await wasmbed('device', 'create', 'x', '--runtime', 'vmware');
  expect(runtime.code).toBe(1);
  expect(runtime.stderr).toMatch(/runtime "vmware" must be virtual/);
  // ...and an option the command does not take is refused, not dropped.
  const notHere = await wasmbed('device', 'create', 'x', '--to', 'd1');
  expect(notHere.code).toBe(2);
  expect(notHere.stderr).toMatch(/--to does not apply to "wasmbed device create"; it takes --mcu, --runtime/);
  const badPercent = await wasmbed(
    'app',
    'deploy',
    path.join(DIST_DIR, 'hello.wasm'),
    '--all',
    '--max-unavailable',
    '120%',
  );
  expect(badPercent.code).toBe(2);
  expect(badPercent.stderr).toMatch(
    /--max-unavailable must be a count or a percentage from 0% to 100%, got 120%/,
  );
  // A count that is not one names both spellings too (it said "must be a non-negative integer").
  const badCount = await wasmbed(
    'app',
    'deploy',
    path.join(DIST_DIR, 'hello.wasm'),
    '--all',
    '--canary',
    '2.5',
  );
  expect(badCount.code).toBe(2);
  expect(badCount.stderr).toMatch(/--canary must be a count or a percentage from 0% to 100%, got 2\.5/);
  const noneOfItsOwn = await wasmbed('apps', 'ls', '--watch');
  expect(noneOfItsOwn.code).toBe(2);
  expect(noneOfItsOwn.stderr).toMatch(/--watch does not apply to "wasmbed app list"/);
  expect((await wasmbed('device', 'get', 'x', '--selector', 'a=b')).stderr).toMatch(
    /it takes no options of its own/,
  );
  const firmware = path.join(platform.home, 'late.fw.json');
  const failed = await wasmbed('device', 'create', 'cli-bad', '--firmware', firmware, '--watch');
  expect(failed.code).toBe(1);
  expect(failed.stderr).toMatch(/cli-bad Failed: .*does not exist/);
  fs.copyFileSync(DEFAULT_VIRTUAL_FIRMWARE, firmware);
  const retried = await wasmbed('device', 'retry', 'cli-bad', '--watch');
  expect(retried.code, retried.stderr).toBe(0);
  expect(retried.stdout).toMatch(/cli-bad Connected/);
  const unreachable = await (async () => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'cli', 'main.mjs'), 'device', 'list'], {
      env: { ...process.env, WASMBED_URL: 'http://127.0.0.1:9' },
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    return { code, err };
  })();
  expect(unreachable.code).toBe(1);
  expect(unreachable.err).toMatch(/cannot reach Wasmbed/);
});

it('creates a batch with a progress bar, lists page by page, and refuses a bad batch whole', async () => {
  const r = await wasmbed(
    'device',
    'create-batch',
    '--count',
    '3',
    '--prefix',
    'clib',
    '--name',
    'cli-batch',
    '--label',
    'group=clib',
    '--watch',
  );
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/batch cli-batch: 3 of 3 devices provisioning/);
  // Not a terminal here: plain progress lines (at most one a second), the last one complete.
  const bars = r.stderr.split('\n').filter((l) => l.startsWith('cli-batch ['));
  expect(bars.length).toBeGreaterThanOrEqual(1);
  expect(bars.every((l) => !l.includes('\r') && !l.includes('\x1b'))).toBe(true);
  expect(bars[bars.length - 1]).toMatch(/^cli-batch \[#{24}\] 3\/3 Connected · [\d.]+\/s$/);
  expect(r.stdout).toMatch(/batch cli-batch: 3 of 3 Connected, 0 Failed/);

  const status = await wasmbed('device', 'batch-status', 'cli-batch', '-o', 'json');
  expect(JSON.parse(status.stdout)).toEqual({
    name: 'cli-batch',
    total: 3,
    counts: { Connected: 3 },
    settled: true,
  });

  // --limit 1: one device per request, every page followed; the same list as one request.
  const all = (await platform.api('GET', '/api/v1/devices')).body.items.map((d: any) => d.metadata.name);
  const paged = await wasmbed('device', 'list', '--limit', '1', '-o', 'json');
  expect(JSON.parse(paged.stdout).items.map((d: any) => d.metadata.name)).toEqual(all);
  const filtered = await wasmbed(
    'device',
    'list',
    '--label',
    'group=clib',
    '--prefix',
    'clib-',
    '--phase',
    'Connected',
  );
  expect(
    filtered.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/)[0]),
  ).toEqual(['clib-1', 'clib-2', 'clib-3']);

  const bad = await wasmbed('device', 'create-batch', '--count', '2', '--prefix', 'ok', '--mcu', 'Esp32');
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/mcuType "Esp32" is unknown.*\(field: mcuType\)/);
  const taken = await wasmbed('device', 'create-batch', '--count', '4', '--prefix', 'clib', '--start', '3');
  expect(taken.code).toBe(1);
  expect(taken.stderr).toMatch(/"clib-3" already exists/);
  const after = (await platform.api('GET', '/api/v1/devices')).body.items.map((d: any) => d.metadata.name);
  expect(after).toEqual(all); // nothing of either refused batch was created
  const usage = await wasmbed('device', 'create-batch', '--count', '2');
  expect(usage.code).toBe(2);
});

it('prints a list longer than a pipe holds whole (the CLI exits only once its output is written)', async () => {
  const created = await platform.api('POST', '/api/v1/device-batches', {
    name: 'cli-many',
    count: 25,
    prefix: 'many',
  });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  await waitFor(
    'the 25 Connected',
    async () => (await platform.api('GET', '/api/v1/device-batches/cli-many')).body.counts?.Connected === 25,
    120_000,
  );
  // Through a shell pipe, as `wasmbed device list -o json | jq` reads it (a pipe holds 64 KiB; the
  // socket pair that spawn gives a child holds more): exiting at once cut the list off there.
  const cli = `"${process.execPath}" "${path.join(REPO_ROOT, 'cli', 'main.mjs')}"`;
  const piped = spawn('sh', ['-c', `${cli} device list --prefix many- -o json | cat`], {
    env: { ...process.env, WASMBED_URL: platform.webUrl },
  });
  let stdout = '';
  piped.stdout.on('data', (d) => (stdout += d));
  expect(await new Promise((resolve) => piped.on('exit', resolve))).toBe(0);
  expect(stdout.length).toBeGreaterThan(64 * 1024);
  expect(JSON.parse(stdout).items).toHaveLength(25);
});

it('deletes every device a filter selects in one request, and refuses a delete with no filter', async () => {
  const before = (await platform.api('GET', '/api/v1/devices')).body.items.map((d: any) => d.metadata.name);
  const many = before.filter((n: string) => n.startsWith('many-'));
  expect(many).toHaveLength(25);
  // No filter: nothing is deleted, and the answer says what would select devices.
  const unfiltered = await platform.api('DELETE', '/api/v1/devices');
  expect(unfiltered.status).toBe(400);
  expect(unfiltered.body.error.message).toMatch(
    /^deleting devices by filter needs at least one of phase, runtime, mcuType, gateway, labelSelector, namePrefix/,
  );
  const both = await wasmbed('device', 'delete', 'many-1', '--prefix', 'many-');
  expect(both.code).toBe(2);
  expect(both.stderr).toMatch(/takes a NAME or filters/);
  const none = await wasmbed('device', 'delete', '--prefix', 'nothing-by-this-name-');
  expect([none.code, none.stdout.trim()]).toEqual([0, 'no device matches']);

  const r = await wasmbed('device', 'delete', '--prefix', 'many-', '--watch');
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/^deleting 25 devices$/m);
  const bars = r.stderr.split('\n').filter((l) => l.startsWith('['));
  expect(bars[bars.length - 1]).toBe(`[${'#'.repeat(24)}] 25/25 deleted`);
  expect(r.stdout.trim()).toBe('25 devices deleted');
  const after = (await platform.api('GET', '/api/v1/devices')).body.items.map((d: any) => d.metadata.name);
  expect(after).toEqual(before.filter((n: string) => !n.startsWith('many-')));
});

it('rotates a certificate; --watch waits until the device is Connected with the new one and names both', async () => {
  const serial = async () =>
    (await platform.api('GET', '/api/v1/devices/cli-1')).body.status.identity.certSerial;
  const before = await serial();
  const r = await wasmbed('device', 'rotate-certificate', 'cli-1', '--watch');
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toContain(`cli-1: certificate ${before} being replaced by lifecycle-cli-1`);
  const after = await serial();
  expect(after).not.toBe(before);
  expect(r.stdout.trim()).toMatch(
    new RegExp(`^cli-1 certificate rotated: ${before} → ${after}, valid until \\S+$`),
  );
  const missing = await wasmbed('device', 'rotate-certificate', 'nope');
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/Device "nope" not found/);
});

it("app get shows a Canary's two wave sizes: its first wave (a count here) and the waves after it", async () => {
  // An earlier test left the app pausing after its canary: this update keeps that (the CLI changes
  // only what it is given), so it is started --detach and the pause is part of the wording.
  const r = await wasmbed('app', 'update', 'hello', '--strategy', 'Canary', '--canary', '1', '--detach');
  expect(r.code, r.stderr).toBe(0);
  const shown = (await wasmbed('app', 'get', 'hello')).stdout;
  expect(shown).toMatch(
    /^Strategy: +Canary of 1, then waits for approval, then 50% at a time, tolerates \d+ failed$/m,
  );

  // The pause turned off again: without --no-pause-after-canary every later update paused too.
  const both = await wasmbed('app', 'update', 'hello', '--pause-after-canary', '--no-pause-after-canary');
  expect(both.code).toBe(2);
  expect(both.stderr).toMatch(/--pause-after-canary and --no-pause-after-canary: give one/);
  expect((await wasmbed('app', 'promote', 'hello')).code).toBe(0);
  const unpaused = await wasmbed(
    'app',
    'update',
    'hello',
    '--no-pause-after-canary',
    '--env',
    'GREETING=unpaused',
  );
  expect(unpaused.code, unpaused.stderr).toBe(0);
  expect(unpaused.stderr).not.toMatch(/canary wave done/);
  const app = JSON.parse((await wasmbed('app', 'get', 'hello', '-o', 'json')).stdout);
  expect([app.spec.strategy.pauseAfterCanary, app.status.phase]).toEqual([false, 'Running']);
  expect((await wasmbed('app', 'get', 'hello')).stdout).toMatch(
    /^Strategy: +Canary of 1, then 50% at a time, tolerates \d+ failed$/m,
  );
});

it('deletes one device with --watch behind a bar that says it is deleting it, not its provisioning', async () => {
  const r = await wasmbed('device', 'delete', 'cli-2', '--watch');
  expect(r.code, r.stderr).toBe(0);
  const bars = r.stderr.split('\n').filter((l) => l.startsWith('cli-2 ['));
  expect(bars.at(-1)).toBe(`cli-2 [${'#'.repeat(24)}] 1/1 deleted`);
  expect(
    bars.every((l) => /^cli-2 \[-{24}\] 0\/1 deleting$|1\/1 deleted$/.test(l)),
    bars.join('\n'),
  ).toBe(true);
  expect(r.stdout.trim()).toBe('cli-2 deleted');
});
