/** The platform refuses a module that cannot fit a board, naming the board and its limit (common/mcu-profiles.ts). */
import { describe, expect, it } from 'vitest';
import { MCU_PROFILES, MCU_TYPES, type McuType } from '../common/mcu-profiles.js';
import type { Device } from '../common/resources.js';
import { appBudgetOf, moduleMisfit } from '../device/apps/fit.js';
import { padToSize } from './support/wasm-padding.js';

/** (module (func (export "_start")) (memory (export "memory") 1)) */
const START_APP = Buffer.from(
  '0061736d01000000' +
    '010401600000' +
    '03020100' +
    '0503010001' +
    '071302065f7374617274000006' +
    Buffer.from('memory').toString('hex') +
    '0200' +
    '0a040102000b',
  'hex',
);
const APP = { entry: '_start', limits: { memoryPages: 1 } };

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

  it('accepts a module of exactly maxAppSize and refuses one byte more, naming board and limit', () => {
    const f746 = MCU_PROFILES.Stm32F746gDisco.apps.maxAppSize;
    expect(f746).toBe(32 * 1024);
    const lab = [device('lab-1', 'Stm32F746gDisco')];
    expect(moduleMisfit(padToSize(START_APP, f746), APP, lab)).toBeUndefined();
    expect(moduleMisfit(padToSize(START_APP, f746 + 1), APP, lab)).toBe(
      `module does not fit lab-1 (Stm32F746gDisco): module is ${f746 + 1} bytes, more than the device accepts (${f746} bytes)`,
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
