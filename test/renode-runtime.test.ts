/**
 * The renode runtime in local mode, through the real platform (Temporal, orchestrator, gateway,
 * web) with a STAND-IN for the `renode` executable: Renode cannot be installed on this machine
 * (no network but package registries), so test/support/renode-standin.mjs takes its place as
 * WASMBED_RENODE_BIN. It speaks Renode's command line and monitor protocol, runs the .resc
 * it is given and records every command. It emulates no CPU, so no firmware runs and no TLS
 * session is made: these tests check everything the runtime does up to the CPU starting.
 * What a real Renode does with the same script is not verified here (docs/runtimes.md).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_STALE_MS } from '../common/config.js';
import type { Device } from '../common/resources.js';
import { REPO_ROOT } from '../common/repo-root.js';
import {
  CREDENTIALS_BLOCK_ADDRESS,
  ENDPOINT_BLOCK_ADDRESS,
  RAM_BASE,
  decodeCredentialsBlock,
  decodeEndpointBlock,
} from '../device/memory-contract.js';
import { processCommandLine, terminate } from '../runtimes/process-table.js';
import { ensureQemuTestFirmware } from '../runtimes/qemu.js';
import { DockerRuntime } from '../runtimes/docker/runtime.js';
import { applyWriteCommands, macFor, tapFor } from '../runtimes/renode/resc.js';
import { RenodeRuntime } from '../runtimes/renode/runtime.js';
import { activitiesFromHistory } from '../web/timeline.js';
import { provisionWorkflowId } from '../workflows/contracts/index.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

const STANDIN = path.join(REPO_ROOT, 'test', 'support', 'renode-standin.mjs');
/** The host's address as the devices' taps see it: what a loopback gateway endpoint becomes. */
const HOST_ADDRESS = '192.0.2.10';
const RENODE_ENV = {
  WASMBED_RENODE_MODE: 'local',
  WASMBED_RENODE_BIN: STANDIN,
  WASMBED_RENODE_HOST_ADDRESS: HOST_ADDRESS,
};

let platform: TestPlatform | undefined;
/** The runtime as the worker builds it (same home, same binary). */
let runtime: RenodeRuntime;
let firmware: string;

beforeAll(async () => {
  firmware = ensureQemuTestFirmware(); // a real Cortex-M ELF (built here with arm-none-eabi-gcc)
  platform = await startTestPlatform({ env: RENODE_ENV });
  runtime = new RenodeRuntime({
    home: platform.home,
    mode: 'local',
    binary: STANDIN,
    hostAddress: HOST_ADDRESS,
  });
});

afterAll(async () => {
  try {
    await platform?.stop();
  } finally {
    // Nothing may outlive the suite, whatever failed.
    for (const device of ['ren-1', 'ren-2', 'ren-3'])
      for (const pid of runtime?.runningPids(device) ?? []) await terminate(pid);
  }
}, 120_000);

const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');
const device = async (name: string) => (await platform!.api('GET', `/api/v1/devices/${name}`)).body as Device;
const volume = (name: string) => runtime.volumeOf(name);
const standinLog = (name: string) => {
  const file = path.join(volume(name), 'renode-standin.log');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
};
/** Commands the stand-in received, without where from. */
const commands = (name: string) =>
  standinLog(name)
    .filter((l) => /^(startup|monitor)/.test(l))
    .map((l) => l.split('\t')[1]!);

const lastIndex = (items: string[], match: (item: string) => boolean): number =>
  items.reduce((last, item, i) => (match(item) ? i : last), -1);

async function waitStep(name: string, step: string, timeoutMs = 90_000): Promise<Device> {
  return waitFor(
    `${name} ${step} to succeed`,
    async () => {
      const d = await device(name);
      if (d.status?.phase === 'Failed') throw new Error(`${name} failed: ${d.status.message}`);
      return d.status?.steps?.find((s) => s.name === step)?.state === 'Succeeded' ? d : undefined;
    },
    timeoutMs,
    250,
  );
}

describe('renode runtime (local mode, stand-in renode)', () => {
  it('provisions a {"runtime":"renode"} device: verified ELF in the volume, blocks written before start, unique MAC and tap', async () => {
    const created = await platform!.api('POST', '/api/v1/devices', {
      name: 'ren-1',
      runtime: 'renode',
      mcuType: 'Stm32F746gDisco',
      firmware,
    });
    expect(created.status).toBe(202);
    const d = await waitStep('ren-1', 'writeEndpoint');
    expect(d.spec.runtime).toBe('renode');

    // The firmware in the volume is the device's, byte for byte; Renode loaded that file.
    const expected = sha256(fs.readFileSync(firmware));
    expect(sha256(fs.readFileSync(path.join(volume('ren-1'), 'firmware.elf')))).toBe(expected);
    expect(standinLog('ren-1')).toContain(`ELF\tsha256=${expected}`);

    // One Renode, run as the runtime says, on the device's script.
    const pids = runtime.runningPids('ren-1');
    expect(pids).toHaveLength(1);
    const argv = processCommandLine(pids[0]!)!;
    expect(argv.slice(-6)).toEqual([
      '--disable-xwt',
      '--hide-log',
      '--port',
      fs.readFileSync(path.join(volume('ren-1'), 'monitor.port'), 'utf8'),
      '-e',
      `include @${volume('ren-1')}/device.resc`,
    ]);

    // The stand-in saw the machine loaded (paused), then the blocks, then `start`, in that order.
    const seen = commands('ren-1');
    const firstWrite = seen.findIndex((c) => c.startsWith('sysbus WriteDoubleWord'));
    const lastWrite = lastIndex(seen, (c) => c.startsWith('sysbus WriteDoubleWord'));
    const start = seen.indexOf('start');
    expect(seen.indexOf(`sysbus LoadELF @${volume('ren-1')}/firmware.elf`)).toBeLessThan(firstWrite);
    expect(firstWrite).toBeGreaterThan(0);
    expect(lastWrite).toBeLessThan(start);
    expect(seen.filter((c) => c === 'start')).toHaveLength(1);
    // At `start` RAM held the endpoint: the gateway's loopback endpoint, rewritten to the host's tap address.
    expect(standinLog('ren-1')).toContain(
      `STATE\tstarted\tendpoint=${HOST_ADDRESS}:${platform!.gatewayPort}`,
    );
    expect(fs.readFileSync(path.join(volume('ren-1'), 'uart.log'), 'utf8')).toContain(
      `wasmbed: endpoint=${HOST_ADDRESS}:${platform!.gatewayPort}`,
    );
    // …and the worker streams that UART file into the device's log.
    await waitFor('the UART line in the device log', async () => {
      const { items } = (await platform!.api('GET', '/api/v1/devices/ren-1/logs')).body as {
        items: { message: string }[];
      };
      return items.some(
        (e) => e.message === `[uart] wasmbed: endpoint=${HOST_ADDRESS}:${platform!.gatewayPort}`,
      );
    });

    // device.resc in the volume is the whole script: blocks before `start`, which is last.
    const resc = fs.readFileSync(path.join(volume('ren-1'), 'device.resc'), 'utf8');
    const lines = resc.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines.at(-1)).toBe('start');
    expect(lastIndex(lines, (l) => l.startsWith('sysbus WriteDoubleWord'))).toBe(lines.length - 2);
    const ram = applyWriteCommands(lines, RAM_BASE, 0x8000);
    expect(decodeEndpointBlock(ram, ENDPOINT_BLOCK_ADDRESS - RAM_BASE)).toBe(
      `${HOST_ADDRESS}:${platform!.gatewayPort}`,
    );
    const credentials = decodeCredentialsBlock(ram, CREDENTIALS_BLOCK_ADDRESS - RAM_BASE);
    expect(credentials.certPem).toContain('BEGIN CERTIFICATE');
    expect(credentials.keyPem).toContain('PRIVATE KEY');
    expect(fs.statSync(path.join(volume('ren-1'), 'device.resc')).mode & 0o777).toBe(0o600); // it holds the key
    expect(resc).toContain(`sysbus.ethernet MAC "${macFor('ren-1')}"`);
    expect(resc).toContain(`emulation CreateTap "${tapFor('ren-1')}" "tap"`);

    expect(await runtime.machineState('ren-1')).toBe('running');
  });

  it('adopts the running Renode after the orchestrator is killed with SIGKILL: one process per device', async () => {
    // Hold the gateway back so the workflow is certainly mid-way when the worker dies: once the
    // dead gateway's registration is stale, assignGateway waits, after startEmulator and before
    // the endpoint is written (a fresh registration would still be chosen, and the CPU started).
    const gateway = platform!.processes.get('gateway')!;
    gateway.kill('SIGKILL');
    await new Promise((resolve) => gateway.once('exit', resolve));
    await waitFor(
      'the killed gateway to be stale',
      async () => {
        const { items } = (await platform!.api('GET', '/api/v1/gateways')).body as {
          items: { status: { lastSeen?: string } }[];
        };
        return items.every((g) => Date.now() - Date.parse(g.status.lastSeen ?? '') > GATEWAY_STALE_MS + 500);
      },
      30_000,
      250,
    );

    const created = await platform!.api('POST', '/api/v1/devices', {
      name: 'ren-2',
      runtime: 'renode',
      mcuType: 'NucleoF767zi',
      firmware,
    });
    expect(created.status).toBe(202);
    await waitStep('ren-2', 'startEmulator');
    const [pid] = runtime.runningPids('ren-2');
    expect(pid).toBeDefined();
    expect(await runtime.machineState('ren-2')).toBe('paused'); // no blocks yet: the CPU has not run
    const ren1 = runtime.runningPids('ren-1');

    const worker = platform!.processes.get('orchestrator')!;
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));
    await platform!.start('orchestrator');
    await platform!.start('gateway');

    await waitStep('ren-2', 'writeEndpoint');
    expect(runtime.runningPids('ren-2')).toEqual([pid]);
    expect(runtime.runningPids('ren-1')).toEqual(ren1);
    expect(await runtime.start('ren-2', 'NucleoF767zi')).toEqual({ id: String(pid), adopted: true });
    expect(runtime.runningPids('ren-2')).toEqual([pid]);
    expect(standinLog('ren-2')).toContain(
      `STATE\tstarted\tendpoint=${HOST_ADDRESS}:${platform!.gatewayPort}`,
    );
    // Two devices, two MACs.
    expect(macFor('ren-2')).not.toBe(macFor('ren-1'));
  });

  it('rewrites the endpoint of a running machine through the monitor (recovery), and relaunches a dead Renode on the whole script', async () => {
    const credentials = {
      certPem: '-----BEGIN CERTIFICATE-----\nNEW\n-----END CERTIFICATE-----\n',
      keyPem: '-----BEGIN PRIVATE KEY-----\nNEW\n-----END PRIVATE KEY-----\n',
      caPem: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
    };
    const [pid] = runtime.runningPids('ren-1');
    const before = commands('ren-1').length;
    await runtime.writeMemory('ren-1', 'gateway.example:9443', credentials);
    const sent = commands('ren-1').slice(before);
    expect(sent.slice(0, 4)).toEqual(['mach set "ren-1"', 'machine IsPaused', 'pause', 'machine Reset']);
    expect(sent.at(-1)).toBe('start');
    expect(standinLog('ren-1').at(-1)).toBe('STATE\tstarted\tendpoint=gateway.example:9443');
    expect(runtime.runningPids('ren-1')).toEqual([pid]);

    // The same blocks again (a retried activity): nothing is sent but the state query.
    const count = commands('ren-1').length;
    await runtime.writeMemory('ren-1', 'gateway.example:9443', credentials);
    expect(commands('ren-1').slice(count)).toEqual(['mach set "ren-1"', 'machine IsPaused']);

    // Renode died (recovery writes the endpoint before ensureEmulator): started again on the
    // whole script, which writes the blocks before `start` by itself.
    process.kill(pid!, 'SIGKILL');
    await waitFor('renode to die', () => runtime.runningPids('ren-1').length === 0, 10_000);
    await runtime.writeMemory('ren-1', 'gateway2.example:9443', credentials);
    const [again] = runtime.runningPids('ren-1');
    expect(again).not.toBe(pid);
    const log = standinLog('ren-1');
    const relaunch = log.lastIndexOf('startup:device.resc\tstart');
    expect(relaunch).toBeGreaterThan(0);
    expect(log[relaunch + 1]).toBe('STATE\tstarted\tendpoint=gateway2.example:9443');
    expect(await runtime.start('ren-1', 'Stm32F746gDisco')).toEqual({ id: String(again), adopted: true });
  });

  it('deprovisioning stops Renode and removes the volume', async () => {
    for (const name of ['ren-1', 'ren-2'])
      expect((await platform!.api('DELETE', `/api/v1/devices/${name}`)).status).toBe(202);
    for (const name of ['ren-1', 'ren-2']) {
      await waitFor(
        `${name} deleted`,
        async () => (await platform!.api('GET', `/api/v1/devices/${name}`)).status === 404,
        60_000,
      );
      expect(runtime.runningPids(name)).toEqual([]);
      expect(fs.existsSync(volume(name))).toBe(false);
    }
  });

  it('fails provisioning at once, non-retryably, naming what is missing, with nothing left behind', async () => {
    const worker = platform!.processes.get('orchestrator')!;
    worker.kill('SIGTERM');
    await new Promise((resolve) => worker.once('exit', resolve));
    // The runtime steps run in the device host, which the orchestrator starts with its own
    // environment and otherwise adopts: stop it too, so the new worker starts it without Renode.
    const hostPid = platform!.hostPid();
    if (hostPid !== undefined) process.kill(hostPid, 'SIGKILL');
    await waitFor('the device host gone', () => platform!.hostPid() === undefined);
    await platform!.start('orchestrator', { env: { WASMBED_RENODE_BIN: '/nonexistent/renode' } });

    expect(
      (
        await platform!.api('POST', '/api/v1/devices', {
          name: 'ren-3',
          runtime: 'renode',
          mcuType: 'MimxRt1064Evk',
          firmware,
        })
      ).status,
    ).toBe(202);
    const failed = await waitFor(
      'ren-3 Failed',
      async () => {
        const d = await device('ren-3');
        return d.status?.phase === 'Failed' ? d : undefined;
      },
      30_000,
    );
    expect(failed.status.message).toMatch(
      /prepareVolume failed: .*Renode is not available: WASMBED_RENODE_BIN=\/nonexistent\/renode is not an executable file; install Renode .* or set WASMBED_RENODE_BIN, or run it from an image: WASMBED_RENODE_MODE=docker/,
    );
    const step = failed.status.steps?.find((s) => s.name === 'prepareVolume');
    expect(step?.state).toBe('Failed');
    // One attempt: the host's steps are local activities of provisioning on the device host
    // (the API starts it on the host's queue), whose history has a single failed prepareVolume
    // marker, and the failure it recorded is EmulatorUnavailable, non-retryable.
    // markFailed is a local activity: the device reads Failed while the workflow task that records
    // its markers is still open. The run fails right after, so wait for it to close first.
    const run = platform!.client.workflow.getHandle(provisionWorkflowId('ren-3'));
    await expect(run.result()).rejects.toThrow();
    const history = await run.fetchHistory();
    const events = history.events ?? [];
    const prepare = activitiesFromHistory(events as never).filter((a) => a.name === 'prepareVolume');
    expect(prepare.map((a) => [a.state, a.attempt])).toEqual([['Failed', 1]]);
    const unavailable = events
      .map((e) => e.markerRecordedEventAttributes?.failure)
      .map((f) => {
        for (let cause = f; cause; cause = cause.cause) {
          if (cause.applicationFailureInfo?.type === 'EmulatorUnavailable')
            return cause.applicationFailureInfo;
        }
        return undefined;
      })
      .filter((info) => info !== undefined);
    expect(unavailable).toHaveLength(1);
    expect(unavailable[0]!.nonRetryable).toBe(true);
    // Nothing but the device's key was made (issueCertificate creates it in the volume before
    // prepareVolume): no firmware, no memory image, no process; deleting the device removes it.
    const made = fs.existsSync(volume('ren-3')) ? fs.readdirSync(volume('ren-3')) : [];
    expect(made.filter((f) => f !== 'device.key')).toEqual([]);
    expect(runtime.runningPids('ren-3')).toEqual([]);
    expect((await platform!.api('DELETE', '/api/v1/devices/ren-3')).status).toBe(202);
    await waitFor(
      'ren-3 deleted',
      async () => (await platform!.api('GET', '/api/v1/devices/ren-3')).status === 404,
      60_000,
    );
    expect(fs.existsSync(volume('ren-3'))).toBe(false);
  });

  it('a Renode that exits while starting fails start at once with what it printed', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-renode-'));
    try {
      // Not Renode: a program that fails the way a Renode with an unusable script would.
      const broken = path.join(home, 'renode');
      fs.writeFileSync(broken, '#!/bin/sh\necho "Could not load platform: test failure"\nexit 1\n', {
        mode: 0o755,
      });
      // A monitor timeout longer than the test's: only noticing the exit can make this pass.
      const failing = new RenodeRuntime({ home, mode: 'local', binary: broken, monitorTimeoutMs: 3_600_000 });
      await failing.prepareVolume('ren-5');
      await failing.copyFirmware('ren-5', firmware);
      await expect(failing.start('ren-5', 'Stm32F746gDisco')).rejects.toThrow(
        /Renode of ren-5 exited while starting: Could not load platform: test failure/,
      );
      expect(failing.runningPids('ren-5')).toEqual([]);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('auto mode with neither a renode binary nor the image names both and how to fix it', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-renode-'));
    try {
      // An engine that is not there: the image can be neither found nor pulled.
      const noEngine = new RenodeRuntime({
        home,
        binary: '/nonexistent/renode',
        image: 'antmicro/renode',
        docker: new DockerRuntime({
          home,
          docker: new Docker({ socketPath: path.join(home, 'no.sock') }),
        }),
      });
      expect(noEngine.mode).toBe('docker');
      const err = await noEngine.prepareVolume('ren-4').catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(
        /Renode is not available: WASMBED_RENODE_BIN=\/nonexistent\/renode is not an executable file, and image antmicro\/renode: .*(ENOENT|connect).*docker pull antmicro\/renode/,
      );
      expect((err as { code?: string }).code).toBe('EmulatorUnavailable');
      expect(fs.existsSync(noEngine.volumeOf('ren-4'))).toBe(false);
      // Deleting it needs no engine: nothing was made, so there is nothing to stop or remove.
      expect(await noEngine.stop('ren-4')).toBe(0);
      await noEngine.removeVolume('ren-4');
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
