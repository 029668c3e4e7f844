/* eslint-disable */
// @ts-nocheck -- AssemblyScript, compiled by scripts/build-apps.mjs, not by tsc
/**
 * blinky: toggles a GPIO pin. env PIN (default 0 = led0), PERIOD_MS (a full on+off cycle,
 * default 1000), TOGGLES (how many level changes before exiting, default 0 = forever).
 */
import { getEnvInt, gpio_write, print, sleep_ms } from '../lib/wasmbed';

export function _start(): void {
  const pin = getEnvInt('PIN', 0);
  const half = max(1, getEnvInt('PERIOD_MS', 1000) / 2);
  const toggles = getEnvInt('TOGGLES', 0);
  print('blinky: pin ' + pin.toString() + ', ' + half.toString() + ' ms per level');
  let level = 1;
  for (let n = 0; toggles == 0 || n < toggles; n++) {
    gpio_write(pin, level);
    level ^= 1;
    sleep_ms(half);
  }
  print('blinky: done');
}
