/**
 * MCU profiles: the boards Wasmbed knows, what emulates them and the memory that bounds
 * their apps. Names are checked against Zephyr's boards/ and Renode's platforms/boards/.
 * This module is imported by workflow code, so it must stay free of Node built-ins.
 */
export const MCU_TYPES = [
  'Stm32F746gDisco',
  'MimxRt1064Evk',
  'NucleoF767zi',
  'Mps2An385',
  'Nrf52840DK',
  'Stm32F4Disco',
] as const;

export type McuType = (typeof MCU_TYPES)[number];

export const DEFAULT_MCU_TYPE: McuType = 'Stm32F746gDisco';

export interface McuProfile {
  mcuType: McuType;
  zephyrBoard: string;
  emulator: { kind: 'renode'; platform: string } | { kind: 'qemu'; machine: string };
  /** Whether the emulator models a NIC the firmware can use to reach a gateway. */
  emulatedEthernet: boolean;
  ramBytes: number;
  flashBytes: number;
  /**
   * What apps may use on this board: the Zephyr firmware's RAM budget (firmware/zephyr/boards/
   * <board>.conf: WASMBED_MAX_APPS, WASMBED_APP_MODULE_SIZE = DeviceInfo.maxAppSize,
   * WASMBED_APP_MEMORY_PAGES), sized so the image fits the board's RAM with margin
   * (docs/firmware.md "RAM and flash per board"). The platform refuses a module that exceeds it.
   */
  apps: { maxApps: number; maxAppSize: number; memoryPages: number };
}

/**
 * What a board's DeployApplication frame may carry besides the module: its ids, entry, limits,
 * env and args (firmware/zephyr/Kconfig WASMBED_FRAME_OVERHEAD; the firmware accepts frames of
 * at most maxAppSize plus this). A larger frame closes the device's session instead of deploying.
 */
export const DEPLOY_FRAME_OVERHEAD = 4096;

/** The largest DeployApplication payload a board that takes modules of `maxAppSize` bytes accepts. */
export const deployFrameLimit = (maxAppSize: number): number => maxAppSize + DEPLOY_FRAME_OVERHEAD;

export const MCU_PROFILES: Record<McuType, McuProfile> = {
  Stm32F746gDisco: {
    mcuType: 'Stm32F746gDisco',
    zephyrBoard: 'stm32f746g_disco',
    emulator: { kind: 'renode', platform: 'platforms/boards/stm32f7_discovery-bb.repl' },
    emulatedEthernet: true,
    ramBytes: 320 * 1024,
    flashBytes: 1024 * 1024,
    // 28 KiB: the module buffer shares the DTCM above the memory blocks with the Ethernet DMA buffers
    apps: { maxApps: 1, maxAppSize: 28 * 1024, memoryPages: 1 },
  },
  MimxRt1064Evk: {
    mcuType: 'MimxRt1064Evk',
    zephyrBoard: 'mimxrt1064_evk',
    emulator: { kind: 'renode', platform: 'platforms/boards/mimxrt1064_evk.repl' },
    emulatedEthernet: true,
    ramBytes: 1024 * 1024,
    flashBytes: 4 * 1024 * 1024,
    apps: { maxApps: 2, maxAppSize: 64 * 1024, memoryPages: 1 },
  },
  NucleoF767zi: {
    mcuType: 'NucleoF767zi',
    zephyrBoard: 'nucleo_f767zi',
    emulator: { kind: 'renode', platform: 'platforms/boards/nucleo_f767zi.repl' },
    emulatedEthernet: true,
    ramBytes: 512 * 1024,
    flashBytes: 2 * 1024 * 1024,
    apps: { maxApps: 2, maxAppSize: 32 * 1024, memoryPages: 1 },
  },
  Mps2An385: {
    mcuType: 'Mps2An385',
    zephyrBoard: 'mps2/an385',
    emulator: { kind: 'qemu', machine: 'mps2-an385' },
    emulatedEthernet: true,
    ramBytes: 4 * 1024 * 1024,
    flashBytes: 4 * 1024 * 1024,
    apps: { maxApps: 4, maxAppSize: 128 * 1024, memoryPages: 4 },
  },
  Nrf52840DK: {
    mcuType: 'Nrf52840DK',
    zephyrBoard: 'nrf52840dk/nrf52840',
    emulator: { kind: 'renode', platform: 'platforms/boards/nrf52840dk_nrf52840.repl' },
    emulatedEthernet: false,
    ramBytes: 256 * 1024,
    flashBytes: 1024 * 1024,
    apps: { maxApps: 1, maxAppSize: 32 * 1024, memoryPages: 1 },
  },
  Stm32F4Disco: {
    mcuType: 'Stm32F4Disco',
    zephyrBoard: 'stm32f4_disco',
    emulator: { kind: 'renode', platform: 'platforms/boards/stm32f4_discovery-kit.repl' },
    emulatedEthernet: false,
    ramBytes: 192 * 1024,
    flashBytes: 1024 * 1024,
    apps: { maxApps: 1, maxAppSize: 16 * 1024, memoryPages: 1 },
  },
};

export function isMcuType(value: unknown): value is McuType {
  return typeof value === 'string' && (MCU_TYPES as readonly string[]).includes(value);
}
