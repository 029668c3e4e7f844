/**
 * The qemu runtime on a real qemu-system-arm: a test firmware built here with
 * gcc-arm-none-eabi (qemu/test-firmware) boots on mps2-an385 and prints over its UART the
 * endpoint it read from the block the runtime wrote with `-device loader` before the CPU ran.
 * Needs qemu-system-arm and gcc-arm-none-eabi (sudo bash scripts/setup-docker.sh).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDeviceCreate } from '../common/validation.js';
import { QemuRuntime, ensureQemuTestFirmware, guestEndpoint, qemuFiles } from '../runtimes/qemu.js';
import { UartFileFollower } from '../runtimes/uart-file-follower.js';
import type { DeviceLogs } from '../store/device-logs.js';
import { SqliteDeviceLogs } from '../store/sqlite-device-logs.js';
import { openDatabase } from '../store/sqlite.js';
import { waitFor } from './support/wait.js';

const credentials = {
  certPem: '-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n',
  keyPem: '-----BEGIN PRIVATE KEY-----\nTEST\n-----END PRIVATE KEY-----\n',
  caPem: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
};

let home: string;
let runtime: QemuRuntime;
let firmware: string;
let logs: DeviceLogs;
let uartFollower: UartFileFollower;

beforeAll(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-qemu-'));
  logs = new SqliteDeviceLogs(openDatabase(path.join(home, 'logs.db')));
  uartFollower = new UartFileFollower(logs, { intervalMs: 100 });
  runtime = new QemuRuntime({ home, uart: uartFollower });
  firmware = ensureQemuTestFirmware();
});
afterAll(async () => {
  for (const device of ['qemu-1', 'qemu-2']) await runtime?.stop(device);
  uartFollower?.close();
  fs.rmSync(home, { recursive: true, force: true });
});

const uart = (device: string) => {
  const file = qemuFiles(runtime.volumeOf(device)).uart;
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
};

describe('qemu runtime (mps2-an385)', () => {
  it('boots the test firmware, which prints the endpoint the runtime wrote before the CPU ran', async () => {
    runtime.prepareVolume('qemu-1');
    const copied = runtime.copyFirmware('qemu-1', firmware);
    expect(copied.bytes).toBe(fs.statSync(firmware).size);

    // No blocks yet: the CPU stays halted (no qemu process), nothing on the UART.
    const started = await runtime.start('qemu-1', 'Mps2An385');
    expect(started.adopted).toBe(false);
    expect(runtime.runningPids('qemu-1')).toHaveLength(0);
    expect(uart('qemu-1')).toBe('');

    await runtime.writeMemory('qemu-1', '127.0.0.1:8081', credentials);
    const out = await waitFor(
      'the firmware to report',
      () => (uart('qemu-1').includes('done') ? uart('qemu-1') : false),
      20_000,
    );
    // A loopback gateway is reached through slirp's host alias.
    expect(out).toContain('wasmbed-qemu-test: endpoint=10.0.2.2:8081');
    expect(out).toContain(
      `wasmbed-qemu-test: credentials=ok cert=${credentials.certPem.length} key=${credentials.keyPem.length} ca=${credentials.caPem.length}`,
    );
    expect(out).toContain('nic lan9118 id_rev=0x0118'); // the board's NIC is there
    expect(out).not.toContain('refusing to dial');
    expect(runtime.runningPids('qemu-1')).toHaveLength(1);
    // The UART file is streamed into the device log, line by line.
    await waitFor('the UART in the device log', async () =>
      (await logs.list('qemu-1')).some(
        (e) => e.message === '[uart] wasmbed-qemu-test: endpoint=10.0.2.2:8081',
      ),
    );
  });

  it('adopts the running qemu, keeps it for the same blocks and relaunches it for new ones', async () => {
    const [pid] = runtime.runningPids('qemu-1');
    expect(await runtime.start('qemu-1', 'Mps2An385')).toEqual({ id: String(pid), adopted: true });
    await runtime.writeMemory('qemu-1', '127.0.0.1:8081', credentials);
    expect(runtime.runningPids('qemu-1')).toEqual([pid]);

    await runtime.writeMemory('qemu-1', 'gateway.example:9443', credentials);
    await waitFor(
      'the new endpoint on the UART',
      () => uart('qemu-1').includes('endpoint=gateway.example:9443'),
      20_000,
    );
    const now = runtime.runningPids('qemu-1');
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(pid);

    expect(await runtime.stop('qemu-1')).toBe(1);
    expect(runtime.runningPids('qemu-1')).toHaveLength(0);
    runtime.removeVolume('qemu-1');
    expect(fs.existsSync(runtime.volumeOf('qemu-1'))).toBe(false);
  });

  it('firmware refuses a corrupted endpoint block', async () => {
    runtime.prepareVolume('qemu-2');
    runtime.copyFirmware('qemu-2', firmware);
    await runtime.start('qemu-2', 'Mps2An385');
    await runtime.writeMemory('qemu-2', '127.0.0.1:8081', credentials);
    await waitFor('boot', () => uart('qemu-2').includes('done'), 20_000);
    await runtime.stop('qemu-2');
    const files = qemuFiles(runtime.volumeOf('qemu-2'));
    const block = fs.readFileSync(files.endpoint);
    block[10] = block[10]! ^ 0xff; // flip a byte of the endpoint text: the CRC no longer matches
    fs.writeFileSync(files.endpoint, block);
    fs.writeFileSync(files.uart, '');
    await runtime.start('qemu-2', 'Mps2An385'); // recovery path: blocks present, relaunch
    await waitFor('boot', () => uart('qemu-2').includes('done'), 20_000);
    expect(uart('qemu-2')).toContain('endpoint block invalid: CRC mismatch');
    expect(uart('qemu-2')).toContain('refusing to dial');
  });

  it('rejects boards qemu does not emulate, naming the board and the boards that work', async () => {
    await expect(runtime.start('qemu-3', 'Stm32F746gDisco')).rejects.toThrow(
      /Stm32F746gDisco.*stm32f746g_disco.*Mps2An385/,
    );
    expect(() => validateDeviceCreate({ name: 'q', runtime: 'qemu', mcuType: 'Stm32F746gDisco' })).toThrow(
      /Stm32F746gDisco" cannot run with runtime "qemu".*boards that work: Mps2An385$/,
    );
    expect(() => validateDeviceCreate({ name: 'q', runtime: 'qemu', mcuType: 'Nrf52840DK' })).toThrow(
      /Nrf52840DK" cannot run with runtime "qemu".*boards that work: Mps2An385$/,
    );
    expect(() => validateDeviceCreate({ name: 'q', runtime: 'docker', mcuType: 'Stm32F4Disco' })).toThrow(
      /Stm32F4Disco" cannot run with runtime "docker".*boards that work: Stm32F746gDisco, MimxRt1064Evk, NucleoF767zi, Mps2An385$/,
    );
    expect(validateDeviceCreate({ name: 'q', runtime: 'qemu', mcuType: 'Mps2An385' }).spec.runtime).toBe(
      'qemu',
    );
    expect(guestEndpoint('localhost:1')).toBe('10.0.2.2:1');
    expect(guestEndpoint('10.1.2.3:8081')).toBe('10.1.2.3:8081');
  });

  it('refuses a firmware that is not an ELF', () => {
    const bogus = path.join(home, 'bogus.img');
    fs.writeFileSync(bogus, 'not an elf');
    expect(() => runtime.copyFirmware('qemu-3', bogus)).toThrow(/not an ELF/);
  });
});
