import { describe, expect, it } from 'vitest';
import { ValidationError } from '../common/errors.js';
import { validateDeviceCreate } from '../common/validation.js';
import { backoffDelay } from '../device/backoff.js';

function fieldOf(body: unknown): string | undefined {
  try {
    validateDeviceCreate(body);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).field;
  }
}

describe('device input validation', () => {
  it('defaults mcuType and runtime', () => {
    expect(validateDeviceCreate({ name: 'dev-1' })).toEqual({
      name: 'dev-1',
      spec: { mcuType: 'Stm32F746gDisco', runtime: 'virtual', labels: {} },
    });
  });

  it('names the offending field', () => {
    expect(fieldOf(null)).toBe('body');
    expect(fieldOf({})).toBe('name');
    expect(fieldOf({ name: 'UPPER' })).toBe('name');
    expect(fieldOf({ name: '-dash' })).toBe('name');
    expect(fieldOf({ name: 'a'.repeat(64) })).toBe('name');
    expect(fieldOf({ name: 'ok', mcuType: 'Esp32' })).toBe('mcuType');
    expect(fieldOf({ name: 'ok', runtime: 'vmware' })).toBe('runtime');
    expect(fieldOf({ name: 'ok', gateway: 'Bad Gateway' })).toBe('gateway');
    expect(fieldOf({ name: 'ok', labels: { team: 5 } })).toBe('labels.team');
    expect(fieldOf({ name: 'a'.repeat(63) })).toBeUndefined();
  });
});

describe('reconnect backoff', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    const options = { baseMs: 250, capMs: 30_000 };
    expect(backoffDelay(0, options, () => 0.999)).toBe(249);
    expect(backoffDelay(3, options, () => 0.999)).toBe(1998);
    expect(backoffDelay(20, options, () => 0.999)).toBe(29_970);
    expect(backoffDelay(5, options, () => 0)).toBe(0);
  });
});
