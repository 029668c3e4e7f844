import { describe, expect, it } from 'vitest';
import { ValidationError } from '../common/errors.js';
import { DEVICE_CREATE_SCHEMA } from '../common/schemas.js';
import { validateDeviceCreate } from '../common/validation.js';
import { compileSchema, createAjv, describeError, pickError } from '../web/openapi.js';
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

describe("device input validation says what the API's check says", () => {
  // The API checks POST /devices against DEVICE_CREATE_SCHEMA (web/openapi.ts); the batch, the
  // Kubernetes controller's runs and the workflow itself call validateDeviceCreate. One device
  // refused by both must read the same, whichever way it came in.
  const apiCheck = compileSchema(createAjv(), DEVICE_CREATE_SCHEMA);
  const api = (body: unknown) => {
    const copy = structuredClone(body); // (the check fills defaults in)
    if (apiCheck(copy)) return undefined;
    const err = describeError(pickError(apiCheck.errors!));
    return { field: err.field, message: err.message };
  };
  const own = (body: unknown) => {
    try {
      validateDeviceCreate(structuredClone(body));
      return undefined;
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      return { field: (err as ValidationError).field, message: (err as ValidationError).message };
    }
  };

  it.each([
    ['not an object', 'str'],
    ['no name', {}],
    ['a name that is not a string', { name: 5 }],
    ['an empty name', { name: '' }],
    ['a name that is not a DNS label', { name: 'Bad_Name' }],
    ['an unknown board', { name: 'x', mcuType: 'Esp32' }],
    ['a board that is not a string', { name: 'x', mcuType: 5 }],
    ['an unknown runtime', { name: 'x', runtime: 'vmware' }],
    ['a runtime that is not a string', { name: 'x', runtime: 5 }],
    ['qemu without a board (the default one is not emulated by qemu)', { name: 'x', runtime: 'qemu' }],
    ['qemu with a board qemu does not emulate', { name: 'x', runtime: 'qemu', mcuType: 'Stm32F746gDisco' }],
    ['renode with a board renode does not emulate', { name: 'x', runtime: 'renode', mcuType: 'Mps2An385' }],
    ['docker with a board without a network', { name: 'x', runtime: 'docker', mcuType: 'Nrf52840DK' }],
    ['external without enrollment', { name: 'x', runtime: 'external' }],
    ['enrollment with another runtime', { name: 'x', enrollment: 'preauthorized', runtime: 'virtual' }],
    ['an unknown enrollment', { name: 'x', enrollment: 'yes' }],
    ['a gateway that is not a DNS label', { name: 'x', gateway: 'Bad_' }],
    ['a firmware that is not a string', { name: 'x', firmware: 5 }],
    ['labels that are not an object', { name: 'x', labels: [] }],
    ['a label key that is not one', { name: 'x', labels: { 'bad key!': 'v' } }],
    ['a label key too long', { name: 'x', labels: { ['k'.repeat(300)]: 'v' } }],
    ['a label value that is not a string', { name: 'x', labels: { k: 5 } }],
    ['a label value that is not one', { name: 'x', labels: { k: 'a b' } }],
    ['a label value too long', { name: 'x', labels: { k: 'v'.repeat(64) } }],
  ])('%s', (_case, body) => {
    const refused = api(body);
    expect(refused, 'the API refuses it').toBeDefined();
    expect(own(body)).toEqual(refused);
  });

  it('accepts what the API accepts, and lets an unknown field pass (a recorded workflow input must replay)', () => {
    for (const body of [
      { name: 'x' },
      { name: 'x', runtime: 'qemu', mcuType: 'Mps2An385', firmware: 'zephyr.elf' },
      { name: 'x', runtime: 'renode' },
      { name: 'x', enrollment: 'preauthorized' },
      { name: 'x', labels: { 'example.com/group': 'lab', empty: '' }, gateway: 'gateway-0' },
    ]) {
      expect(api(body), JSON.stringify(body)).toBeUndefined();
      expect(own(body), JSON.stringify(body)).toBeUndefined();
    }
    expect(api({ name: 'x', colour: 'red' })).toEqual({
      field: 'colour',
      message: 'colour is not a field of this request',
    });
    expect(own({ name: 'x', colour: 'red' })).toBeUndefined();
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
