/**
 * Renode .resc generation, golden-tested for every Renode profile, and the monitor-port
 * client. Renode itself cannot be installed here: the client is exercised against a stand-in
 * TCP monitor that speaks Renode's prompt protocol (a boundary mock, said so here).
 * UPDATE_GOLDEN=1 rewrites renode/golden/.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MCU_PROFILES } from '../common/mcu-profiles.js';
import { REPO_ROOT } from '../common/repo-root.js';
import {
  CREDENTIALS_BLOCK_ADDRESS,
  RAM_BASE,
  readMemoryImage,
  MEMORY_IMAGE_BYTES,
} from '../device/memory-contract.js';
import { RENODE_MCU_TYPES, loadRenodeBoards, renodeBoardFor } from '../runtimes/renode/boards.js';
import { RenodeMonitor } from '../runtimes/renode/monitor.js';
import { applyWriteCommands, generateResc, macFor, tapFor } from '../runtimes/renode/resc.js';

const GOLDEN = path.join(REPO_ROOT, 'renode', 'golden');
const credentials = {
  certPem: '-----BEGIN CERTIFICATE-----\nMIIBdevice\n-----END CERTIFICATE-----\n',
  keyPem: '-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n',
  caPem: '-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n',
};
const endpoint = '192.0.2.1:8081';

describe('renode profiles', () => {
  it("cover every Renode profile of common/mcu-profiles.ts with the platform it names, all in Renode's tree", () => {
    const known = new Set(
      fs
        .readFileSync(path.join(REPO_ROOT, 'renode', 'renode-boards.txt'), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('#')),
    );
    const boards = loadRenodeBoards();
    expect(boards.map((b) => b.mcuType).sort()).toEqual([...RENODE_MCU_TYPES].sort());
    for (const board of boards) {
      const profile = MCU_PROFILES[board.mcuType];
      expect(profile.emulator).toEqual({ kind: 'renode', platform: board.repl });
      expect(known).toContain(board.repl);
      expect(known).toContain(board.cpuRepl);
      expect(Boolean(board.ethernet)).toBe(profile.emulatedEthernet);
    }
  });

  it('rejects a board without Ethernet for a networked device, naming it and the boards that work', () => {
    expect(() => renodeBoardFor('Nrf52840DK')).toThrow(
      /Nrf52840DK.*nrf52840dk\/nrf52840.*boards that work with renode: Stm32F746gDisco, MimxRt1064Evk, NucleoF767zi/,
    );
    expect(() => renodeBoardFor('Mps2An385')).toThrow(/not a Renode board/);
  });
});

describe('.resc generation', () => {
  for (const mcuType of RENODE_MCU_TYPES) {
    it(`${mcuType}: matches the golden file; blocks written before start decode back`, () => {
      const device = `dev-${mcuType.toLowerCase()}`;
      const resc = generateResc({
        device,
        mcuType,
        volume: '/volume',
        endpoint,
        credentials,
        allowNoNetwork: true,
      });
      const file = path.join(GOLDEN, `${mcuType}.resc`);
      if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, resc);
      expect(resc).toBe(fs.readFileSync(file, 'utf8'));

      const lines = resc.split('\n');
      const startAt = lines.indexOf('start');
      expect(startAt).toBe(lines.length - 2); // `start` is the last command
      expect(lines.filter((l) => l === 'start')).toHaveLength(1);
      const writes = lines.filter((l) => l.startsWith('sysbus WriteDoubleWord'));
      expect(writes.length).toBeGreaterThan(0);
      const lastWrite = lines
        .map((l, i) => (l.startsWith('sysbus WriteDoubleWord') ? i : -1))
        .reduce((a, b) => Math.max(a, b));
      expect(lastWrite).toBeLessThan(startAt);
      expect(lines.findIndex((l) => l.startsWith('sysbus LoadELF'))).toBeLessThan(
        lines.findIndex((l) => l.startsWith('sysbus WriteDoubleWord')),
      );
      expect(resc).toContain(
        `machine LoadPlatformDescription @${MCU_PROFILES[mcuType].emulator.kind === 'renode' ? (MCU_PROFILES[mcuType].emulator as { platform: string }).platform : ''}`,
      );
      expect(resc).toMatch(/CreateFileBackend @\/volume\/uart\.log true/);

      const memory = applyWriteCommands(writes, RAM_BASE, MEMORY_IMAGE_BYTES);
      expect(readMemoryImage(memory)).toEqual({ endpoint, credentials });
      expect(memory.readUInt32LE(CREDENTIALS_BLOCK_ADDRESS - RAM_BASE)).toBe(0x52434257);

      if (MCU_PROFILES[mcuType].emulatedEthernet) {
        expect(resc).toContain(`MAC "${macFor(device)}"`);
        expect(resc).toContain(`emulation CreateTap "${tapFor(device)}" "tap"`);
      } else {
        expect(resc).not.toContain('CreateTap');
      }
    });
  }

  it('gives every device its own MAC and tap', () => {
    const names = Array.from({ length: 500 }, (_, i) => `device-${i}`);
    expect(new Set(names.map(macFor)).size).toBe(names.length);
    expect(new Set(names.map(tapFor)).size).toBe(names.length);
    for (const name of names.slice(0, 20)) {
      expect(macFor(name)).toMatch(/^02(:[0-9a-f]{2}){5}$/); // locally administered, unicast
      expect(tapFor(name).length).toBeLessThanOrEqual(15);
    }
    const a = generateResc({ device: 'a', mcuType: 'Stm32F746gDisco', volume: '/v', endpoint, credentials });
    const b = generateResc({ device: 'b', mcuType: 'Stm32F746gDisco', volume: '/v', endpoint, credentials });
    expect(/MAC "([^"]+)"/.exec(a)![1]).not.toBe(/MAC "([^"]+)"/.exec(b)![1]);
  });
});

describe('Renode monitor client (against a stand-in monitor)', () => {
  const servers: net.Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  it('runs commands one at a time, strips telnet/ANSI noise and turns error replies into exceptions', async () => {
    const received: string[] = [];
    const server = net.createServer((socket) => {
      // Renode greets with telnet negotiation, a banner and the prompt.
      socket.write(Buffer.from([0xff, 0xfb, 0x01, 0xff, 0xfb, 0x03]));
      socket.write('Renode, version 1.15.3\r\n\x1b[33m(monitor) \x1b[0m');
      let pending = '';
      socket.on('data', (d) => {
        pending += d.toString();
        let nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const cmd = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          received.push(cmd);
          const reply =
            cmd === 'bogus'
              ? "There was an error executing command 'bogus'\r\n"
              : cmd === 'version'
                ? 'Renode v1.15.3\r\n'
                : '';
          socket.write(`${cmd}\r\n${reply}(dev-1) `);
        }
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const monitor = await RenodeMonitor.connect('127.0.0.1', port, 5000);
    try {
      expect(await monitor.execute('version')).toBe('Renode v1.15.3');
      expect(await monitor.execute('sysbus WriteDoubleWord 0x20001000 0x50454257')).toBe('');
      await expect(monitor.execute('bogus')).rejects.toThrow(/refused "bogus"/);
      expect(await monitor.execute('start')).toBe('');
      expect(received).toEqual(['version', 'sysbus WriteDoubleWord 0x20001000 0x50454257', 'bogus', 'start']);
    } finally {
      monitor.close();
    }
  });
});
