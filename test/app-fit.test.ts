/** The platform refuses a module that cannot fit a board, naming the board and its limit (common/mcu-profiles.ts). */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOY_FRAME_OVERHEAD, MCU_PROFILES, MCU_TYPES, type McuType } from '../common/mcu-profiles.js';
import type { Device } from '../common/resources.js';
import { appBudgetOf, deployMessageMisfit, moduleMisfit } from '../device/apps/fit.js';
import { encodeEnvelope, MAX_MESSAGE_ID, PROTOCOL_VERSION } from '../protocol/messages.js';
import { CREDENTIALS_BLOCK_END, ENDPOINT_BLOCK_ADDRESS } from '../device/memory-contract.js';
import { padToSize } from './support/wasm-padding.js';
import { START_APP } from './support/start-app.js';

const APP = { entry: '_start', limits: { memoryPages: 1 } };
const BOARDS_DIR = path.resolve(import.meta.dirname, '../firmware/zephyr/boards');

/** CONFIG_X=value lines of a Zephyr board .conf. */
function kconfig(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of fs.readFileSync(file, 'utf8').matchAll(/^CONFIG_(\w+)=(.*)$/gm)) out[m[1]!] = m[2]!;
  return out;
}

/** The memory regions a board overlay defines (`label: memory@... { reg = <0xADDR DT_SIZE_K(n)>; }`) and what it chooses. */
function overlayRegions(file: string): {
  chosen: Record<string, string>;
  regions: Record<string, { start: number; bytes: number }>;
} {
  const text = fs.readFileSync(file, 'utf8');
  const chosen: Record<string, string> = {};
  for (const m of text.matchAll(/^\s*(zephyr,[\w-]+)\s*=\s*&(\w+);/gm)) chosen[m[1]!] = m[2]!;
  const regions: Record<string, { start: number; bytes: number }> = {};
  for (const m of text.matchAll(
    /(\w+):\s*memory@[0-9a-f]+\s*\{[^}]*?reg\s*=\s*<(0x[0-9a-f]+)\s+DT_SIZE_K\((\d+)\)>/gi,
  ))
    regions[m[1]!] = { start: Number(m[2]), bytes: Number(m[3]) * 1024 };
  return { chosen, regions };
}

function device(name: string, mcuType: McuType): Device {
  return { kind: 'Device', metadata: { name }, spec: { mcuType } } as unknown as Device;
}

describe('apps fit the board budget of their MCU profile', () => {
  it('every profile has a budget no larger than its RAM', () => {
    for (const type of MCU_TYPES) {
      const { apps, ramBytes } = MCU_PROFILES[type];
      expect(apps.maxApps).toBeGreaterThanOrEqual(1);
      expect(apps.maxApps * (apps.maxAppSize + apps.memoryPages * 65536)).toBeLessThan(ramBytes);
      expect(appBudgetOf(type)).toBe(apps);
    }
  });

  it('equals the Zephyr firmware budget of every board it builds for (firmware/zephyr/boards)', () => {
    const built = MCU_TYPES.filter((t) =>
      fs.existsSync(path.join(BOARDS_DIR, `${MCU_PROFILES[t].zephyrBoard.replace('/', '_')}.conf`)),
    );
    expect(built.sort()).toEqual(['MimxRt1064Evk', 'Mps2An385', 'NucleoF767zi', 'Stm32F746gDisco']);
    for (const type of built) {
      const conf = kconfig(path.join(BOARDS_DIR, `${MCU_PROFILES[type].zephyrBoard.replace('/', '_')}.conf`));
      const { apps } = MCU_PROFILES[type];
      expect({ type, apps }).toEqual({
        type,
        apps: {
          maxApps: Number(conf.WASMBED_MAX_APPS),
          maxAppSize: Number(conf.WASMBED_APP_MODULE_SIZE),
          memoryPages: Number(conf.WASMBED_APP_MEMORY_PAGES),
        },
      });
      // WAMR's pool holds every app's linear memory plus its module structures and wasm stack
      expect(Number(conf.WASMBED_WAMR_POOL_SIZE)).toBeGreaterThanOrEqual(
        apps.maxApps * (apps.memoryPages * 65536 + 16384),
      );
    }
  });

  it('keeps Zephyr off the memory blocks, and the DTCM holds the module buffers and the Ethernet DMA buffers', () => {
    // Zephyr 4.1's STM32 and NXP ENET Ethernet drivers put their DMA descriptors and buffers into
    // zephyr,dtcm (ETH_STM32_HAL_USE_DTCM_FOR_DMA_BUFFER, ETH_NXP_ENET_USE_DTCM_FOR_DMA_BUFFER,
    // both default y), which the boards' own devicetrees start at 0x20000000, under the blocks:
    // these boards must choose a DTCM region of their overlay. STM32: 4 + 4 buffers of 1528 bytes
    // and 8 descriptors of 40 bytes.
    const STM32_ETH_DMA_BYTES = 8 * 1528 + 8 * 40;
    const DTCM_END: Record<string, number> = {
      stm32f746g_disco: 0x2001_0000,
      nucleo_f767zi: 0x2002_0000,
      mimxrt1064_evk: 0x2002_0000,
    };
    const modulesChecked: string[] = [];
    const regionsClearOfBlocks: string[] = [];
    for (const type of MCU_TYPES) {
      const board = MCU_PROFILES[type].zephyrBoard.replace('/', '_');
      const overlay = path.join(BOARDS_DIR, `${board}.overlay`);
      if (!fs.existsSync(overlay)) continue;
      const conf = kconfig(path.join(BOARDS_DIR, `${board}.conf`));
      const { chosen, regions } = overlayRegions(overlay);
      for (const [prop, label] of Object.entries(chosen)) {
        const region = regions[label];
        if (!region) continue; // a region of the board's own devicetree
        const end = region.start + region.bytes;
        expect({
          board,
          prop,
          clearOfBlocks: end <= ENDPOINT_BLOCK_ADDRESS || region.start >= CREDENTIALS_BLOCK_END,
        }).toEqual({ board, prop, clearOfBlocks: true });
        regionsClearOfBlocks.push(`${board} ${prop}`);
      }
      if (board in DTCM_END) {
        const dtcm = regions[chosen['zephyr,dtcm'] ?? '']!;
        expect({ board, dtcmEnd: dtcm && dtcm.start + dtcm.bytes <= DTCM_END[board]! }).toEqual({
          board,
          dtcmEnd: true,
        });
        if (conf.WASMBED_MODULES_IN_DTCM === 'y') {
          const needed =
            Number(conf.WASMBED_MAX_APPS) * Number(conf.WASMBED_APP_MODULE_SIZE) + STM32_ETH_DMA_BYTES;
          expect({ board, fits: needed <= dtcm.bytes }).toEqual({ board, fits: true });
          modulesChecked.push(board);
        }
      }
    }
    expect(modulesChecked.sort()).toEqual(['nucleo_f767zi', 'stm32f746g_disco']);
    expect(regionsClearOfBlocks.sort()).toEqual([
      'mimxrt1064_evk zephyr,dtcm',
      'mimxrt1064_evk zephyr,sram',
      'mps2_an385 zephyr,sram',
      'nucleo_f767zi zephyr,dtcm',
      'stm32f746g_disco zephyr,dtcm',
    ]);
  });

  it('accepts a module of exactly maxAppSize and refuses one byte more, naming board and limit', () => {
    const f746 = MCU_PROFILES.Stm32F746gDisco.apps.maxAppSize;
    expect(f746).toBe(28 * 1024);
    const lab = [device('lab-1', 'Stm32F746gDisco')];
    expect(moduleMisfit(padToSize(START_APP, f746), APP, lab)).toBeUndefined();
    expect(moduleMisfit(padToSize(START_APP, f746 + 1), APP, lab)).toBe(
      `module does not fit lab-1 (Stm32F746gDisco): module is ${f746 + 1} bytes, more than the device accepts (${f746} bytes)`,
    );
  });

  it("refuses env and args that would make the deploy message larger than the board's frame", () => {
    const f746 = MCU_PROFILES.Stm32F746gDisco.apps.maxAppSize;
    const lab = [device('lab-1', 'Stm32F746gDisco')];
    const module = padToSize(START_APP, f746);
    const app = (env: Record<string, string>) => ({
      ...APP,
      name: 'fit',
      limits: { memoryPages: 1, cpuMsPerCall: null },
      env,
      args: ['--fast'],
    });
    // The frame a board takes: its module budget plus what the firmware allows besides it.
    const accepted = f746 + DEPLOY_FRAME_OVERHEAD;
    const sizeWith = (value: string) =>
      encodeEnvelope({
        version: PROTOCOL_VERSION,
        messageId: MAX_MESSAGE_ID,
        body: {
          type: 'DeployApplication',
          appId: 'fit',
          name: 'fit',
          module,
          entry: '_start',
          limits: { memoryPages: 1, cpuMsPerCall: null },
          env: { NOTE: value },
          args: ['--fast'],
        },
      }).length;
    // An env value that makes the message exactly as large as the board takes, and one byte more.
    const exact = 'x'.repeat(3000 + accepted - sizeWith('x'.repeat(3000)));
    expect(sizeWith(exact)).toBe(accepted);
    expect(deployMessageMisfit(module, app({ NOTE: exact }), lab)).toBeUndefined();
    expect(deployMessageMisfit(module, app({ NOTE: `${exact}x` }), lab)).toBe(
      `env and args do not fit lab-1 (Stm32F746gDisco): with the ${f746}-byte module the deploy message would be ${accepted + 1} bytes, and the board takes at most ${accepted} (its module budget plus ${DEPLOY_FRAME_OVERHEAD}); shorten env and args`,
    );
    // The same env with a smaller module fits.
    expect(deployMessageMisfit(START_APP, app({ NOTE: `${exact}x` }), lab)).toBeUndefined();
  });

  it("the frame allowance is the firmware's (firmware/zephyr/Kconfig WASMBED_FRAME_OVERHEAD)", () => {
    const kconfigText = fs.readFileSync(
      path.resolve(import.meta.dirname, '../firmware/zephyr/Kconfig'),
      'utf8',
    );
    const overhead = /config WASMBED_FRAME_OVERHEAD[\s\S]*?default (\d+)/.exec(kconfigText)?.[1];
    expect(Number(overhead)).toBe(DEPLOY_FRAME_OVERHEAD);
  });

  it("a board that reported its own module size is held to it, not to its profile's", () => {
    // An enrolled STM32F746G-DISCO whose firmware was built with WASMBED_APP_MODULE_SIZE=20000
    // (its profile says 28 KiB) says so in Hello; the gateway records it as status.deviceInfo.
    const reporting = (maxAppSize: number): Device =>
      ({
        kind: 'Device',
        metadata: { name: 'board-7' },
        spec: { mcuType: 'Stm32F746gDisco' },
        status: {
          deviceInfo: { firmwareVersion: '1', mcuType: 'Stm32F746gDisco', freeMemory: 1, maxAppSize },
        },
      }) as unknown as Device;
    const module = padToSize(START_APP, 24 * 1024);
    expect(moduleMisfit(module, APP, [device('lab-1', 'Stm32F746gDisco')])).toBeUndefined();
    expect(moduleMisfit(module, APP, [reporting(20000)])).toBe(
      `module does not fit board-7 (Stm32F746gDisco, whose firmware reports apps up to 20000 bytes): module is ${24 * 1024} bytes, more than the device accepts (20000 bytes)`,
    );
    // Its deploy frame is its reported size plus the firmware's allowance.
    const app = { ...APP, name: 'fit', limits: { memoryPages: 1, cpuMsPerCall: null }, env: {}, args: [] };
    const small = padToSize(START_APP, 20000);
    expect(deployMessageMisfit(small, app, [reporting(20000)])).toBeUndefined();
    expect(
      deployMessageMisfit(small, { ...app, env: { NOTE: 'x'.repeat(DEPLOY_FRAME_OVERHEAD) } }, [
        reporting(20000),
      ]),
    ).toMatch(
      /^env and args do not fit board-7 \(Stm32F746gDisco, whose firmware reports apps up to 20000 bytes\): /,
    );
    // A firmware built for more takes more; one that reports its profile's size reads as before.
    expect(moduleMisfit(padToSize(START_APP, 40 * 1024), APP, [reporting(48 * 1024)])).toBeUndefined();
    expect(moduleMisfit(padToSize(START_APP, 29 * 1024), APP, [reporting(28 * 1024)])).toMatch(
      /^module does not fit board-7 \(Stm32F746gDisco\): /,
    );
  });

  it('a module too big for one targeted board is refused even if another board takes it', () => {
    const module = padToSize(START_APP, 100 * 1024);
    expect(moduleMisfit(module, APP, [device('qemu-1', 'Mps2An385')])).toBeUndefined();
    expect(
      moduleMisfit(module, APP, [device('qemu-1', 'Mps2An385'), device('evk-1', 'MimxRt1064Evk')]),
    ).toMatch(/^module does not fit evk-1 \(MimxRt1064Evk\): .*\(65536 bytes\)$/);
  });
});
