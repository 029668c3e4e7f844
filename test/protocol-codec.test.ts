/**
 * The wire codec against the shared vectors (test/vectors/, also consumed by the C firmware
 * codec), RFC 8949 examples, round-trip properties and a randomized robustness test.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  APP_STATES,
  type CborValue,
  decodeCbor,
  decodeEnvelope,
  encodeCbor,
  encodeEnvelope,
  type Envelope,
  envelope,
  MAX_MESSAGE_ID,
  MESSAGE_TAGS,
  MESSAGE_TYPES,
  type Message,
  type MessageType,
  messageFields,
  PROTOCOL_ERROR_REASONS,
  PROTOCOL_VERSION,
  ProtocolError,
  type ProtocolErrorReason,
} from '../protocol/index.js';
import { prng, protocolError } from './support/protocol-helpers.js';

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/[\s|]+/g, ''), 'hex'));

/** The vectors' JSON convention: byte strings are {"$bytes": "<hex>"}. */
function fromJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromJson);
  if (v !== null && typeof v === 'object') {
    const record = v as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && keys[0] === '$bytes' && typeof record.$bytes === 'string')
      return unhex(record.$bytes);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(record)) out[k] = fromJson(x);
    return out;
  }
  return v;
}

interface ValidVector {
  name: string;
  description: string;
  envelope: unknown;
  hex: string;
}
interface InvalidVector {
  name: string;
  description: string;
  hex: string;
  error: ProtocolErrorReason;
}

function loadVectors<T>(file: string): T[] {
  const url = new URL(`./vectors/${file}`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { vectors: T[] }).vectors;
}

const validVectors = loadVectors<ValidVector>('messages.json');
const invalidVectors = loadVectors<InvalidVector>('invalid.json');

// ---------------------------------------------------------------------------------------------
// shared vectors
// ---------------------------------------------------------------------------------------------

describe('valid vectors (test/vectors/messages.json)', () => {
  it.each(validVectors.map((v) => [v.name, v] as const))(
    '%s decodes to its envelope and encodes to its exact bytes',
    (_, v) => {
      const expected = fromJson(v.envelope) as Envelope;
      const decoded = decodeEnvelope(unhex(v.hex));
      expect(decoded).toEqual(expected);
      expect(hex(encodeEnvelope(expected))).toBe(v.hex);
      expect(hex(encodeEnvelope(decoded))).toBe(v.hex);
    },
  );

  it('has at least one vector per message type', () => {
    const types = new Set(validVectors.map((v) => (fromJson(v.envelope) as Envelope).body.type));
    expect([...types].sort()).toEqual([...MESSAGE_TYPES].sort());
  });

  it('has every optional field both set and unset', () => {
    const bodies = validVectors.map(
      (v) => (fromJson(v.envelope) as Envelope).body as unknown as Record<string, unknown>,
    );
    const optional: [MessageType, (b: Record<string, unknown>) => unknown[]][] = [
      ['EnrollmentRequest', (b) => [b.claimToken]],
      ['DeployApplication', (b) => [(b.limits as Record<string, unknown>).cpuMsPerCall]],
      ['DeployAck', (b) => [b.error]],
      ['StopAck', (b) => [b.error]],
      ['RequestApplicationStatus', (b) => [b.appId]],
      ['ApplicationStatus', (b) => (b.apps as Record<string, unknown>[]).map((app) => app.error)],
      ['Log', (b) => [b.appId]],
    ];
    for (const [type, get] of optional) {
      const values = bodies.filter((b) => b.type === type).flatMap(get);
      expect(values, `${type}: optional field unset`).toContain(null);
      expect(
        values.some((x) => x !== null),
        `${type}: optional field set`,
      ).toBe(true);
    }
  });

  it('decodes env to a null-prototype object, so "__proto__" stays plain data', () => {
    const bytes = encodeEnvelope(
      envelope(1, {
        type: 'DeployApplication',
        appId: 'a',
        name: 'a',
        module: new Uint8Array(),
        entry: 'e',
        limits: { memoryPages: 1, cpuMsPerCall: null },
        env: JSON.parse('{"__proto__": "x", "constructor": "y"}') as Record<string, string>,
        args: [],
      }),
    );
    const body = decodeEnvelope(bytes).body;
    if (body.type !== 'DeployApplication') throw new Error('wrong type');
    expect(Object.getPrototypeOf(body.env)).toBeNull();
    expect(Object.keys(body.env)).toEqual(['__proto__', 'constructor']);
    expect(body.env['__proto__']).toBe('x');
  });
});

describe('invalid vectors (test/vectors/invalid.json)', () => {
  it.each(invalidVectors.map((v) => [v.name, v] as const))('%s is rejected with its reason', (_, v) => {
    const err = protocolError(() => decodeEnvelope(unhex(v.hex)));
    expect(err.reason, err.message).toBe(v.error);
    expect(err.code).toBe('ProtocolError');
  });

  it('covers every reason that applies to an envelope', () => {
    const covered = new Set(invalidVectors.map((v) => v.error));
    const notForEnvelopes: ProtocolErrorReason[] = ['FrameTooLarge', 'Internal'];
    for (const reason of PROTOCOL_ERROR_REASONS) {
      if (!notForEnvelopes.includes(reason)) expect(covered, reason).toContain(reason);
    }
  });

  it('names the field in the message', () => {
    const module = invalidVectors.find((v) => v.name === 'deploy-application-module-text')!;
    const err = protocolError(() => decodeEnvelope(unhex(module.hex)));
    expect(err.message).toContain('DeployApplication.module must be a byte string');
    expect(err.field).toBe('DeployApplication.module');

    const state = invalidVectors.find((v) => v.name === 'application-status-bad-state')!;
    expect(protocolError(() => decodeEnvelope(unhex(state.hex))).field).toBe(
      'ApplicationStatus.apps[0].state',
    );

    const env = invalidVectors.find((v) => v.name === 'deploy-application-env-value-int')!;
    expect(protocolError(() => decodeEnvelope(unhex(env.hex))).field).toBe('DeployApplication.env["a"]');
  });

  it('reports the messageId and tag of an unknown message so a receiver can log and skip it', () => {
    const err = protocolError(() => decodeEnvelope(unhex('83 01 18 2a 82 10 00')));
    expect(err.reason).toBe('UnknownTag');
    expect(err.messageId).toBe(42);
    expect(err.tag).toBe(16);
  });
});

// ---------------------------------------------------------------------------------------------
// hand-assembled bytes (independent of the encoder and of the vectors)
// ---------------------------------------------------------------------------------------------

describe('hand-assembled envelopes', () => {
  const cases: [string, Envelope, string][] = [
    [
      'Heartbeat',
      envelope(1, { type: 'Heartbeat', uptimeMs: 1000 }),
      // 83 array(3) | 01 version 1 | 01 messageId 1 | 82 body array(2) | 01 tag 1 | 19 03e8 uint16 1000
      '83 01 01 82 01 19 03e8',
    ],
    [
      'DeployAck',
      envelope(7, { type: 'DeployAck', appId: 'app-1', ok: true, error: null }),
      // 83 | 01 | 07 | 84 array(4) | 08 tag | 65 "app-1" = 61 70 70 2d 31 | f5 true | f6 null
      '83 01 07 84 08 65 6170702d31 f5 f6',
    ],
    [
      'RequestApplicationStatus (all)',
      envelope(10, { type: 'RequestApplicationStatus', appId: null }),
      // 83 | 01 | 0a messageId 10 | 82 | 0c tag 12 | f6 null
      '83 01 0a 82 0c f6',
    ],
    [
      'Log',
      envelope(100, { type: 'Log', appId: null, level: 3, message: 'net down', timestampMs: 0 }),
      // 83 | 01 | 18 64 messageId 100 | 85 array(5) | 0e tag 14 | f6 | 03 | 68 "net down" | 00
      '83 01 1864 85 0e f6 03 68 6e657420646f776e 00',
    ],
    [
      'DeployApplication',
      envelope(8, {
        type: 'DeployApplication',
        appId: 'a',
        name: 'a',
        module: unhex('0061736d01000000'),
        entry: 'main',
        limits: { memoryPages: 1, cpuMsPerCall: null },
        env: { b: '2', a: '1' },
        args: ['x'],
      }),
      // 83 | 01 | 08 | 88 array(8) | 07 | 61 "a" | 61 "a" | 48 bytes(8) 0061736d01000000 | 64 "main"
      // | 82 [01, f6] | a2 map(2) 61 "a" 61 "1" 61 "b" 61 "2" (sorted) | 81 ["x"]
      '83 01 08 88 07 6161 6161 48 0061736d01000000 64 6d61696e 82 01 f6 a2 6161 6131 6162 6132 81 6178',
    ],
  ];
  it.each(cases)('%s', (_, env, bytes) => {
    expect(hex(encodeEnvelope(env))).toBe(hex(unhex(bytes)));
    expect(decodeEnvelope(unhex(bytes))).toEqual(env);
  });
});

describe('docs/protocol.md annotated examples', () => {
  const doc = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```text\nvector: ([a-z0-9-]+)\n([\s\S]*?)```/g)].map((m) => {
    // the first column of each line (up to two spaces) is hex; continuation lines start with text
    const bytes = m[2]!
      .split('\n')
      .map((line) => line.trim().split(/ {2,}/)[0] ?? '')
      .filter((col) => /^([0-9a-f]{2})+( ([0-9a-f]{2})+)*$/.test(col))
      .join('')
      .replace(/ /g, '');
    return [m[1]!, bytes] as const;
  });

  it('has one annotated example per message type', () => {
    const types = blocks.map(([name]) => {
      const vector = validVectors.find((v) => v.name === name);
      expect(vector, name).toBeDefined();
      return (fromJson(vector!.envelope) as Envelope).body.type;
    });
    expect(types).toEqual([...MESSAGE_TYPES]);
  });

  it.each(blocks)('example %s matches its vector byte for byte', (name, bytes) => {
    expect(bytes).toBe(validVectors.find((v) => v.name === name)?.hex);
  });
});

// ---------------------------------------------------------------------------------------------
// CBOR layer
// ---------------------------------------------------------------------------------------------

describe('CBOR codec', () => {
  // RFC 8949 Appendix A, restricted to the supported subset
  const rfcExamples: [CborValue, string][] = [
    [0, '00'],
    [1, '01'],
    [10, '0a'],
    [23, '17'],
    [24, '1818'],
    [25, '1819'],
    [100, '1864'],
    [1000, '1903e8'],
    [1000000, '1a000f4240'],
    [1000000000000, '1b000000e8d4a51000'],
    [-1, '20'],
    [-10, '29'],
    [-100, '3863'],
    [-1000, '3903e7'],
    [false, 'f4'],
    [true, 'f5'],
    [null, 'f6'],
    [new Uint8Array(), '40'],
    [unhex('01020304'), '4401020304'],
    ['', '60'],
    ['a', '6161'],
    ['IETF', '6449455446'],
    ['"\\', '62225c'],
    ['\u00fc', '62c3bc'],
    ['\u6c34', '63e6b0b4'],
    ['\ud800\udd51', '64f0908591'],
    [[], '80'],
    [[1, 2, 3], '83010203'],
    [[1, [2, 3], [4, 5]], '8301820203820405'],
    [
      Array.from({ length: 25 }, (_, i) => i + 1),
      '98190102030405060708090a0b0c0d0e0f101112131415161718181819',
    ],
    [new Map(), 'a0'],
    [
      new Map<string, CborValue>([
        ['a', 1],
        ['b', [2, 3]],
      ]),
      'a26161016162820203',
    ],
    [['a', new Map([['b', 'c']])], '826161a161626163'],
    [
      new Map(['a', 'b', 'c', 'd', 'e'].map((k) => [k, k.toUpperCase()])),
      'a56161614161626142616361436164614461656145',
    ],
  ];
  it.each(rfcExamples.map(([v, h]) => [h, v] as const))('RFC 8949 example %s', (h, v) => {
    expect(hex(encodeCbor(v))).toBe(h);
    expect(decodeCbor(unhex(h))).toEqual(v);
  });

  // RFC 8949 Appendix A items outside the subset
  it.each([
    ['f90000', 'WrongType'], // 0.0 half
    ['fb3ff199999999999a', 'WrongType'], // 1.1
    ['f7', 'WrongType'], // undefined
    ['f0', 'WrongType'], // simple(16)
    ['f8ff', 'WrongType'], // simple(255)
    ['c074323031332d30332d32315432303a30343a30305a', 'WrongType'], // tag 0 date
    ['c249010000000000000000', 'WrongType'], // bignum 2^64
    ['1bffffffffffffffff', 'IntegerOutOfRange'], // 18446744073709551615
    ['3bffffffffffffffff', 'IntegerOutOfRange'], // -18446744073709551616
    ['5f42010243030405ff', 'IndefiniteLength'],
    ['7f657374726561646d696e67ff', 'IndefiniteLength'],
    ['9fff', 'IndefiniteLength'],
    ['bf61610161629f0203ffff', 'IndefiniteLength'],
    ['a201020304', 'WrongType'], // {1: 2, 3: 4}: keys must be text
    ['1f', 'Malformed'],
    ['3f', 'Malformed'],
    ['df', 'Malformed'],
    ['1d', 'Malformed'],
    ['fe', 'Malformed'],
  ] as const)('rejects %s with %s', (h, reason) => {
    expect(protocolError(() => decodeCbor(unhex(h))).reason).toBe(reason);
  });

  it('encodes integers at every argument-size boundary in shortest form and reads them back', () => {
    const cases: [number, string][] = [
      [23, '17'],
      [24, '1818'],
      [255, '18ff'],
      [256, '190100'],
      [65535, '19ffff'],
      [65536, '1a00010000'],
      [4294967295, '1affffffff'],
      [4294967296, '1b0000000100000000'],
      [Number.MAX_SAFE_INTEGER, '1b001fffffffffffff'],
      [-24, '37'],
      [-25, '3818'],
      [-256, '38ff'],
      [-257, '390100'],
      [-4294967296, '3affffffff'],
      [-4294967297, '3b0000000100000000'],
      [-Number.MAX_SAFE_INTEGER, '3b001ffffffffffffe'],
    ];
    for (const [n, h] of cases) {
      expect(hex(encodeCbor(n)), String(n)).toBe(h);
      expect(decodeCbor(unhex(h))).toBe(n);
    }
    expect(hex(encodeCbor(-0))).toBe('00');
    expect(protocolError(() => decodeCbor(unhex('3b001fffffffffffff'))).reason).toBe('IntegerOutOfRange');
    expect(protocolError(() => decodeCbor(unhex('1b0020000000000000'))).reason).toBe('IntegerOutOfRange');
  });

  it('encodes lengths at every argument-size boundary', () => {
    for (const n of [0, 23, 24, 255, 256, 65535, 65536]) {
      const bytes = new Uint8Array(n).fill(7);
      const encoded = encodeCbor(bytes);
      expect(decodeCbor(encoded)).toEqual(bytes);
      const head = n < 24 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
      expect(encoded.length).toBe(head + n);
      const text = 'x'.repeat(n);
      expect(decodeCbor(encodeCbor(text))).toBe(text);
      const array = new Array<number>(n).fill(0);
      expect(decodeCbor(encodeCbor(array))).toEqual(array);
    }
  });

  it('sorts map keys by encoded bytes (shorter first, then bytewise) and requires that order', () => {
    const map = new Map<string, CborValue>([
      ['bb', 1],
      ['a', 2],
      ['b', 3],
      ['\u00e9', 4], // 2 UTF-8 bytes (c3 a9): sorts with the 2-byte keys, after "bb" (62 62)
      ['', 5],
    ]);
    const encoded = encodeCbor(map);
    const decoded = decodeCbor(encoded) as Map<string, CborValue>;
    expect([...decoded.keys()]).toEqual(['', 'a', 'b', 'bb', '\u00e9']);
    expect(hex(encodeCbor(decoded))).toBe(hex(encoded));
  });

  it('keeps a leading U+FEFF (no BOM stripping) and round-trips it', () => {
    expect(decodeCbor(unhex('63efbbbf'))).toBe('\ufeff');
    expect(hex(encodeCbor('\ufeffx'))).toBe('64efbbbf78');
  });

  it('returns byte strings as fresh Uint8Array copies, never views of the input', () => {
    const input = Buffer.from('4401020304', 'hex');
    const value = decodeCbor(input) as Uint8Array;
    expect(value.constructor).toBe(Uint8Array);
    input[1] = 0xff;
    expect(hex(value)).toBe('01020304');
  });

  it('accepts 16 nested arrays and refuses 17', () => {
    expect(() => decodeCbor(unhex('81'.repeat(16) + '00'))).not.toThrow();
    expect(protocolError(() => decodeCbor(unhex('81'.repeat(17) + '00'))).reason).toBe('NestingTooDeep');
    expect(protocolError(() => decodeCbor(unhex('a16161'.repeat(17) + '00'))).reason).toBe('NestingTooDeep');
  });

  it('refuses to encode what it cannot represent exactly', () => {
    const cyclic: CborValue[] = [];
    cyclic.push(cyclic);
    const cases: [unknown, ProtocolErrorReason][] = [
      [1.5, 'WrongType'],
      [Number.NaN, 'WrongType'],
      [Number.POSITIVE_INFINITY, 'WrongType'],
      [2 ** 53, 'IntegerOutOfRange'],
      [-(2 ** 53), 'IntegerOutOfRange'],
      [undefined, 'WrongType'],
      [{ a: 1 }, 'WrongType'],
      [10n, 'WrongType'],
      [Symbol('s'), 'WrongType'],
      ['\ud800', 'InvalidUtf8'],
      ['a\udc00b', 'InvalidUtf8'],
      [new Map([[1, 2]]), 'WrongType'],
      [new Map([['\ud800', 2]]), 'InvalidUtf8'],
      [cyclic, 'NestingTooDeep'],
      [[undefined], 'WrongType'],
    ];
    for (const [value, reason] of cases) {
      expect(protocolError(() => encodeCbor(value as CborValue)).reason, String(value)).toBe(reason);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// encoder validation
// ---------------------------------------------------------------------------------------------

describe('encodeEnvelope validation', () => {
  const hb = (body: unknown, messageId = 1, version = PROTOCOL_VERSION): Envelope =>
    ({ version, messageId, body }) as Envelope;
  const cases: [string, Envelope, ProtocolErrorReason, string][] = [
    ['version 2', hb({ type: 'Heartbeat', uptimeMs: 1 }, 1, 2), 'UnsupportedVersion', 'envelope.version'],
    [
      'messageId 2^32',
      hb({ type: 'Heartbeat', uptimeMs: 1 }, MAX_MESSAGE_ID + 1),
      'IntegerOutOfRange',
      'envelope.messageId',
    ],
    ['messageId -1', hb({ type: 'Heartbeat', uptimeMs: 1 }, -1), 'WrongType', 'envelope.messageId'],
    ['messageId 1.5', hb({ type: 'Heartbeat', uptimeMs: 1 }, 1.5), 'WrongType', 'envelope.messageId'],
    ['unknown type', hb({ type: 'Reboot' }), 'UnknownTag', 'body.type'],
    ['inherited type name', hb({ type: 'toString' }), 'UnknownTag', 'body.type'],
    ['missing field', hb({ type: 'Heartbeat' }), 'WrongType', 'Heartbeat.uptimeMs'],
    ['float field', hb({ type: 'Heartbeat', uptimeMs: 0.5 }), 'WrongType', 'Heartbeat.uptimeMs'],
    [
      'unsafe integer',
      hb({ type: 'Heartbeat', uptimeMs: 2 ** 60 }),
      'IntegerOutOfRange',
      'Heartbeat.uptimeMs',
    ],
    [
      'module as string',
      hb({ type: 'Publish', appId: 'a', topic: 't', data: 'x' }),
      'WrongType',
      'Publish.data',
    ],
    ['omitted optional', hb({ type: 'DeployAck', appId: 'a', ok: true }), 'WrongType', 'DeployAck.error'],
    [
      'bad level',
      hb({ type: 'Log', appId: null, level: 7, message: 'm', timestampMs: 0 }),
      'InvalidValue',
      'Log.level',
    ],
    [
      'bad state',
      hb({ type: 'ApplicationStatus', apps: [{ appId: 'a', state: 'Paused', error: null, restarts: 0 }] }),
      'InvalidValue',
      'ApplicationStatus.apps[0].state',
    ],
    [
      'env value not a string',
      hb({
        type: 'DeployApplication',
        appId: 'a',
        name: 'a',
        module: new Uint8Array(),
        entry: 'e',
        limits: { memoryPages: 1, cpuMsPerCall: null },
        env: { A: 1 },
        args: [],
      }),
      'WrongType',
      'DeployApplication.env["A"]',
    ],
    [
      'env as Map',
      hb({
        type: 'DeployApplication',
        appId: 'a',
        name: 'a',
        module: new Uint8Array(),
        entry: 'e',
        limits: { memoryPages: 1, cpuMsPerCall: null },
        env: new Map(),
        args: [],
      }),
      'WrongType',
      'DeployApplication.env',
    ],
    [
      'lone surrogate',
      hb({ type: 'StopApplication', appId: '\ud800' }),
      'InvalidUtf8',
      'StopApplication.appId',
    ],
  ];
  it.each(cases)('%s', (_, env, reason, field) => {
    const err = protocolError(() => encodeEnvelope(env));
    expect(err.reason, err.message).toBe(reason);
    expect(err.field).toBe(field);
  });

  it('ignores extra properties on a message object', () => {
    const env = hb({ type: 'Heartbeat', uptimeMs: 5, extra: 'ignored' });
    expect(hex(encodeEnvelope(env))).toBe('830101820105');
  });
});

// ---------------------------------------------------------------------------------------------
// properties
// ---------------------------------------------------------------------------------------------

function randomMessage(rand: () => number): Message {
  const int = (max: number): number => Math.floor(rand() * (max + 1));
  const uint = (): number => {
    const sizes = [23, 255, 65535, 0xffffffff, Number.MAX_SAFE_INTEGER];
    return int(sizes[int(sizes.length - 1)]!);
  };
  const text = (): string => {
    const alphabet = [
      'a',
      'Z',
      '0',
      '-',
      ' ',
      '\u00e9',
      '\u20ac',
      '\u6c34',
      '\ud83d\ude80',
      '\ufeff',
      '\u0000',
    ];
    return Array.from({ length: int(30) }, () => alphabet[int(alphabet.length - 1)]!).join('');
  };
  const bytes = (): Uint8Array => Uint8Array.from({ length: int(300) }, () => int(255));
  const maybe = <T>(f: () => T): T | null => (rand() < 0.5 ? null : f());
  const list = <T>(f: () => T, max = 4): T[] => Array.from({ length: int(max) }, f);
  const type = MESSAGE_TYPES[int(MESSAGE_TYPES.length - 1)]!;
  switch (type) {
    case 'Heartbeat':
      return { type, uptimeMs: uint() };
    case 'HeartbeatAck':
      return { type, serverTimeMs: uint(), heartbeatIntervalMs: uint() };
    case 'DeviceInfo':
      return {
        type,
        firmwareVersion: text(),
        mcuType: text(),
        freeMemory: uint(),
        maxAppSize: uint(),
        wasmFeatures: list(text),
      };
    case 'EnrollmentRequest':
      return { type, csrDer: bytes(), claimToken: maybe(text) };
    case 'EnrollmentAccepted':
      return { type, certificateDer: bytes(), caCertificateDer: bytes() };
    case 'EnrollmentRejected':
      return { type, reason: text() };
    case 'DeployApplication': {
      const env: Record<string, string> = {};
      for (const key of list(text, 6)) env[key] = text();
      return {
        type,
        appId: text(),
        name: text(),
        module: bytes(),
        entry: text(),
        limits: { memoryPages: uint(), cpuMsPerCall: maybe(uint) },
        env,
        args: list(text),
      };
    }
    case 'DeployAck':
    case 'StopAck':
      return { type, appId: text(), ok: rand() < 0.5, error: maybe(text) };
    case 'StopApplication':
      return { type, appId: text() };
    case 'RequestDeviceInfo':
      return { type };
    case 'RequestApplicationStatus':
      return { type, appId: maybe(text) };
    case 'ApplicationStatus':
      return {
        type,
        apps: list(() => ({
          appId: text(),
          state: APP_STATES[int(APP_STATES.length - 1)]!,
          error: maybe(text),
          restarts: uint(),
        })),
      };
    case 'Log':
      return {
        type,
        appId: maybe(text),
        level: int(3) as 0 | 1 | 2 | 3,
        message: text(),
        timestampMs: uint(),
      };
    case 'Publish':
      return { type, appId: text(), topic: text(), data: bytes() };
  }
}

describe('round-trip properties', () => {
  it('decode(encode(m)) equals m and re-encoding is byte-identical (3000 random messages)', () => {
    const rand = prng(0x5eed);
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const env = envelope(Math.floor(rand() * (MAX_MESSAGE_ID + 1)), randomMessage(rand));
      seen.add(env.body.type);
      const bytes = encodeEnvelope(env);
      const decoded = decodeEnvelope(bytes);
      expect(decoded).toEqual(env);
      expect(hex(encodeEnvelope(decoded))).toBe(hex(bytes));
      // the body has exactly 1 + number-of-fields items
      const body = (decodeCbor(bytes) as CborValue[])[2] as CborValue[];
      expect(body.length).toBe(1 + messageFields(env.body.type).length);
      expect(body[0]).toBe(MESSAGE_TAGS[env.body.type]);
    }
    expect(seen.size).toBe(MESSAGE_TYPES.length);
  });
});

// ---------------------------------------------------------------------------------------------
// robustness: nothing but ProtocolError escapes, whatever the bytes
// ---------------------------------------------------------------------------------------------

describe('robustness against arbitrary input', () => {
  /**
   * Decodes `bytes`; if it succeeds, the input must be canonical (re-encodes to itself). If it fails,
   * the error must be a ProtocolError other than the 'Internal' safety net.
   */
  function check(bytes: Uint8Array, counts: Map<string, number>): void {
    let outcome: string;
    try {
      const env = decodeEnvelope(bytes);
      expect(hex(encodeEnvelope(env))).toBe(hex(bytes));
      outcome = 'ok';
    } catch (err) {
      if (!(err instanceof ProtocolError)) {
        throw new Error(`non-ProtocolError for input ${hex(bytes)}: ${String(err)}`, { cause: err });
      }
      if (err.reason === 'Internal')
        throw new Error(`decoder bug on input ${hex(bytes)}: ${err.message}`, { cause: err });
      outcome = err.reason;
    }
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    // the raw CBOR layer obeys the same contract
    try {
      const value = decodeCbor(bytes);
      expect(hex(encodeCbor(value))).toBe(hex(bytes));
    } catch (err) {
      if (!(err instanceof ProtocolError) || err.reason === 'Internal') {
        throw new Error(`decodeCbor on ${hex(bytes)}: ${String(err)}`, { cause: err });
      }
    }
  }

  it('random buffers (20000)', () => {
    const rand = prng(1);
    const counts = new Map<string, number>();
    for (let i = 0; i < 20000; i++) {
      const length = Math.floor(rand() * 48);
      const bytes = new Uint8Array(length);
      // bias towards structural bytes so that the decoder gets past the first item
      const structural = [0x83, 0x82, 0x81, 0x01, 0x00, 0xf6, 0xf5, 0x61, 0x41, 0xa1, 0x9f, 0xff, 0x18, 0x1b];
      for (let j = 0; j < length; j++) {
        bytes[j] =
          rand() < 0.5 ? structural[Math.floor(rand() * structural.length)]! : Math.floor(rand() * 256);
      }
      check(bytes, counts);
    }
    expect(counts.size).toBeGreaterThan(5);
  });

  it('mutated valid and invalid vectors (30000)', () => {
    const rand = prng(2);
    const counts = new Map<string, number>();
    const seeds = [...validVectors, ...invalidVectors].map((v) => unhex(v.hex)).filter((b) => b.length > 0);
    for (let i = 0; i < 30000; i++) {
      const seed = seeds[Math.floor(rand() * seeds.length)]!;
      const bytes = Array.from(seed);
      const mutations = 1 + Math.floor(rand() * 3);
      for (let m = 0; m < mutations; m++) {
        const at = Math.floor(rand() * (bytes.length + 1));
        const op = Math.floor(rand() * 6);
        if (op === 0) bytes[at] = Math.floor(rand() * 256);
        else if (op === 1) bytes[at] = (bytes[at] ?? 0) ^ (1 << Math.floor(rand() * 8));
        else if (op === 2) bytes.splice(at, 1);
        else if (op === 3) bytes.splice(at, 0, Math.floor(rand() * 256));
        else if (op === 4) bytes.length = at;
        else bytes.splice(at, 0, ...bytes.slice(0, Math.floor(rand() * 8)));
      }
      check(Uint8Array.from(bytes.map((b) => b & 0xff)), counts);
    }
    // the mutations reach both outcomes and many different rejections
    expect(counts.get('ok') ?? 0).toBeGreaterThan(0);
    expect(counts.size).toBeGreaterThan(8);
  });

  it('hostile lengths do not allocate: 2^53-1 items, 4 GiB strings', () => {
    for (const h of [
      '9b001fffffffffffff',
      '5b001fffffffffffff',
      '7affffffff',
      'bb001fffffffffffff',
      '9bffffffffffffffff',
    ]) {
      expect(protocolError(() => decodeEnvelope(unhex(h))).reason).toBe('Truncated');
    }
  });

  it('non-Uint8Array input is a ProtocolError too', () => {
    expect(protocolError(() => decodeEnvelope('830101' as unknown as Uint8Array)).reason).toBe('WrongType');
    expect(protocolError(() => decodeEnvelope(null as unknown as Uint8Array)).reason).toBe('WrongType');
  });
});
