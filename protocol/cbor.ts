/**
 * A small, strict CBOR (RFC 8949) codec for the subset the device protocol uses.
 *
 * Data model (CborValue):
 *   unsigned / negative integer  <-> number (safe integers only, |n| <= Number.MAX_SAFE_INTEGER)
 *   byte string                  <-> Uint8Array (decoded values are fresh copies, never views of the input)
 *   text string                  <-> string (well-formed UTF-8 on the wire; no lone surrogates in JS)
 *   array                        <-> CborValue[]
 *   map with text-string keys    <-> Map<string, CborValue> (a Map, not a plain object, so keys such as
 *                                    "__proto__" are ordinary data; insertion order = wire order)
 *   false / true / null          <-> false / true / null
 *
 * Strictness (the decoder accepts exactly one encoding of each value, the RFC 8949 §4.2.1
 * "core deterministic encoding", and the encoder produces it):
 *   - integers and lengths in their shortest form                          else NonCanonical
 *   - map keys sorted by the bytewise order of their encodings (for text
 *     keys: shorter UTF-8 first, then bytewise), no duplicates             else NonCanonical / DuplicateMapKey
 *   - definite lengths only                                                else IndefiniteLength
 *   - no tags, floats, undefined or other simple values                    else WrongType
 *   - at most MAX_NESTING_DEPTH nested arrays/maps                         else NestingTooDeep
 *   - exactly one top-level item                                           else TrailingBytes
 *
 * decodeCbor throws only ProtocolError, whatever the input.
 */
import { ProtocolError } from './errors.js';
import { errorMessage } from '../common/errors.js';

export type CborValue = number | string | boolean | null | Uint8Array | CborValue[] | CborMap;
export type CborMap = Map<string, CborValue>;

/** Arrays and maps may be nested this deep: the top-level array is level 1, so 16 levels in all. */
export const MAX_NESTING_DEPTH = 16;

const MT_UINT = 0;
const MT_NINT = 1;
const MT_BSTR = 2;
const MT_TSTR = 3;
const MT_ARRAY = 4;
const MT_MAP = 5;
const MT_TAG = 6;
const MT_SIMPLE = 7;

const MAJOR_NAMES = ['unsigned integer', 'negative integer', 'byte string', 'text string', 'array', 'map'];

const TWO_POW_32 = 0x1_0000_0000;
/** Largest high 32-bit word of a 64-bit argument that keeps the value <= Number.MAX_SAFE_INTEGER. */
const MAX_SAFE_HIGH_WORD = 0x1f_ffff;

// ignoreBOM: a leading U+FEFF is data, not a byte-order mark to strip (else "\uFEFFx" would not round-trip).
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
const LONE_SURROGATE = /\p{Cs}/u;

// ---------------------------------------------------------------------------------------------
// Decoder
// ---------------------------------------------------------------------------------------------

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  fail(reason: ConstructorParameters<typeof ProtocolError>[0], message: string, offset = this.pos): never {
    throw new ProtocolError(reason, `${message} (at byte ${offset})`, { offset });
  }

  need(n: number, what: string): void {
    if (n > this.bytes.length - this.pos) {
      this.fail(
        'Truncated',
        `input ends inside ${what}: need ${n} more byte(s), have ${this.bytes.length - this.pos}`,
      );
    }
  }

  byte(): number {
    const b = this.bytes[this.pos];
    if (b === undefined) this.fail('Truncated', 'unexpected end of input');
    this.pos += 1;
    return b;
  }

  /**
   * Reads the argument that follows an initial byte with additional information `ai` (0..27).
   * Returns Infinity for 64-bit arguments above Number.MAX_SAFE_INTEGER; callers classify that.
   */
  argument(ai: number, start: number): number {
    if (ai < 24) return ai;
    const size = 1 << (ai - 24); // 24 -> 1, 25 -> 2, 26 -> 4, 27 -> 8
    this.need(size, `a ${size}-byte argument`);
    const b = this.bytes;
    const p = this.pos;
    let value: number;
    let min: number;
    if (size === 1) {
      value = b[p]!;
      min = 24;
    } else if (size === 2) {
      value = (b[p]! << 8) | b[p + 1]!;
      min = 0x100;
    } else if (size === 4) {
      value = ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
      min = 0x1_0000;
    } else {
      const high = ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
      const low = ((b[p + 4]! << 24) >>> 0) + ((b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!);
      value = high > MAX_SAFE_HIGH_WORD ? Number.POSITIVE_INFINITY : high * TWO_POW_32 + low;
      min = TWO_POW_32;
    }
    this.pos += size;
    if (value < min) {
      this.fail(
        'NonCanonical',
        `argument ${value} is not in its shortest form (${size}-byte encoding)`,
        start,
      );
    }
    return value;
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function decodeItem(r: Reader, depth: number): CborValue {
  const start = r.pos;
  const initial = r.byte();
  const major = initial >> 5;
  const ai = initial & 0x1f;

  if (ai >= 28 && ai <= 30) {
    r.fail('Malformed', `reserved additional information ${ai} in initial byte 0x${hex2(initial)}`, start);
  }
  if (major === MT_SIMPLE) {
    if (ai === 31) r.fail('Malformed', 'break stop code 0xff outside an indefinite-length item', start);
    if (ai === 20) return false;
    if (ai === 21) return true;
    if (ai === 22) return null;
    r.fail('WrongType', `${describeSimple(ai)} (initial byte 0x${hex2(initial)}) is not supported`, start);
  }
  if (major === MT_TAG) {
    if (ai === 31)
      r.fail('Malformed', 'initial byte 0xdf (tag with indefinite length) is not well-formed', start);
    r.fail('WrongType', `CBOR tags are not supported (initial byte 0x${hex2(initial)})`, start);
  }
  if (ai === 31) {
    if (major === MT_UINT || major === MT_NINT) {
      r.fail(
        'Malformed',
        `initial byte 0x${hex2(initial)} (integer with indefinite length) is not well-formed`,
        start,
      );
    }
    r.fail('IndefiniteLength', `indefinite-length ${MAJOR_NAMES[major]} is not allowed`, start);
  }
  if ((major === MT_ARRAY || major === MT_MAP) && depth >= MAX_NESTING_DEPTH) {
    r.fail('NestingTooDeep', `arrays and maps nested deeper than ${MAX_NESTING_DEPTH} levels`, start);
  }

  const arg = r.argument(ai, start);
  switch (major) {
    case MT_UINT:
      if (arg > Number.MAX_SAFE_INTEGER) {
        r.fail('IntegerOutOfRange', 'unsigned integer above Number.MAX_SAFE_INTEGER (2^53-1)', start);
      }
      return arg;
    case MT_NINT:
      // value = -1 - arg; the smallest safe value -(2^53-1) has arg = 2^53-2
      if (arg >= Number.MAX_SAFE_INTEGER) {
        r.fail('IntegerOutOfRange', 'negative integer below -Number.MAX_SAFE_INTEGER (-(2^53-1))', start);
      }
      return -1 - arg;
    case MT_BSTR: {
      r.need(arg, `a byte string of ${count(arg)} bytes`);
      // a copy, and a plain Uint8Array even when the input is a Buffer (whose slice() is a view)
      const value = new Uint8Array(r.bytes.subarray(r.pos, r.pos + arg));
      r.pos += arg;
      return value;
    }
    case MT_TSTR: {
      r.need(arg, `a text string of ${count(arg)} bytes`);
      const at = r.pos;
      const raw = r.bytes.subarray(at, at + arg);
      r.pos += arg;
      return decodeUtf8(r, raw, at);
    }
    case MT_ARRAY: {
      // every item takes at least one byte: refuse impossible counts before allocating anything
      r.need(arg, `an array of ${count(arg)} items`);
      const items: CborValue[] = [];
      for (let i = 0; i < arg; i++) items.push(decodeItem(r, depth + 1));
      return items;
    }
    default: {
      // MT_MAP: every entry takes at least two bytes
      if (arg > (r.bytes.length - r.pos) / 2) r.need(arg * 2, `a map of ${count(arg)} entries`);
      const map: CborMap = new Map();
      let previousKey: Uint8Array | undefined;
      for (let i = 0; i < arg; i++) {
        const keyStart = r.pos;
        const keyInitial = r.byte();
        if (keyInitial >> 5 !== MT_TSTR) {
          r.fail('WrongType', `map keys must be text strings (initial byte 0x${hex2(keyInitial)})`, keyStart);
        }
        r.pos = keyStart;
        const key = decodeItem(r, depth + 1) as string;
        const keyBytes = r.bytes.subarray(keyStart, r.pos);
        if (previousKey !== undefined) {
          const order = compareBytes(previousKey, keyBytes);
          if (order === 0) r.fail('DuplicateMapKey', `duplicate map key ${JSON.stringify(key)}`, keyStart);
          if (order > 0) {
            r.fail(
              'NonCanonical',
              `map key ${JSON.stringify(key)} is out of order (keys must be sorted by their encoded bytes: shorter first, then bytewise)`,
              keyStart,
            );
          }
        }
        previousKey = keyBytes;
        map.set(key, decodeItem(r, depth + 1));
      }
      return map;
    }
  }
}

function decodeUtf8(r: Reader, raw: Uint8Array, at: number): string {
  try {
    return utf8Decoder.decode(raw);
  } catch (err) {
    throw new ProtocolError('InvalidUtf8', `text string is not well-formed UTF-8 (at byte ${at})`, {
      offset: at,
      cause: err,
    });
  }
}

function describeSimple(ai: number): string {
  if (ai === 23) return 'undefined';
  if (ai >= 25 && ai <= 27) return 'floating-point number';
  return 'simple value';
}

function count(n: number): string {
  return Number.isFinite(n) ? String(n) : '2^53 or more';
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/**
 * Decodes exactly one CBOR item that must fill `bytes` completely.
 * Throws only ProtocolError.
 */
export function decodeCbor(bytes: Uint8Array): CborValue {
  if (!(bytes instanceof Uint8Array)) {
    throw new ProtocolError('WrongType', 'decodeCbor input must be a Uint8Array');
  }
  try {
    const r = new Reader(bytes);
    const value = decodeItem(r, 0);
    if (r.pos !== bytes.length) {
      r.fail('TrailingBytes', `${bytes.length - r.pos} byte(s) after the top-level item`);
    }
    return value;
  } catch (err) {
    throw asProtocolError(err);
  }
}

/** Passes a ProtocolError through; wraps anything else (a decoder bug) as reason 'Internal'. */
export function asProtocolError(err: unknown): ProtocolError {
  if (err instanceof ProtocolError) return err;
  return new ProtocolError('Internal', `unexpected decoder failure: ${errorMessage(err)}`, {
    cause: err,
  });
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

class Writer {
  buf = new Uint8Array(256);
  len = 0;

  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  head(major: number, arg: number): void {
    this.reserve(9);
    const b = this.buf;
    const m = major << 5;
    if (arg < 24) {
      b[this.len++] = m | arg;
    } else if (arg < 0x100) {
      b[this.len++] = m | 24;
      b[this.len++] = arg;
    } else if (arg < 0x1_0000) {
      b[this.len++] = m | 25;
      b[this.len++] = arg >>> 8;
      b[this.len++] = arg & 0xff;
    } else if (arg < TWO_POW_32) {
      b[this.len++] = m | 26;
      this.word(arg);
    } else {
      b[this.len++] = m | 27;
      this.word(Math.floor(arg / TWO_POW_32));
      this.word(arg % TWO_POW_32);
    }
  }

  private word(w: number): void {
    const b = this.buf;
    b[this.len++] = (w >>> 24) & 0xff;
    b[this.len++] = (w >>> 16) & 0xff;
    b[this.len++] = (w >>> 8) & 0xff;
    b[this.len++] = w & 0xff;
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }
}

function encodeError(
  reason: ConstructorParameters<typeof ProtocolError>[0],
  path: string,
  message: string,
): never {
  throw new ProtocolError(reason, `cannot encode ${path}: ${message}`, { field: path });
}

function encodeText(path: string, s: string): Uint8Array {
  if (LONE_SURROGATE.test(s)) encodeError('InvalidUtf8', path, 'string contains a lone UTF-16 surrogate');
  return utf8Encoder.encode(s);
}

function encodeItem(w: Writer, value: unknown, depth: number, path: string): void {
  if (typeof value === 'number') {
    if (!Number.isInteger(value))
      encodeError('WrongType', path, `${value} is not an integer (floats are not supported)`);
    if (!Number.isSafeInteger(value))
      encodeError('IntegerOutOfRange', path, `${value} is beyond Number.MAX_SAFE_INTEGER`);
    if (value >= 0) w.head(MT_UINT, value);
    else w.head(MT_NINT, -1 - value);
    return;
  }
  if (typeof value === 'string') {
    const utf8 = encodeText(path, value);
    w.head(MT_TSTR, utf8.length);
    w.bytes(utf8);
    return;
  }
  if (value === false || value === true || value === null) {
    w.reserve(1);
    w.buf[w.len++] = value === false ? 0xf4 : value === true ? 0xf5 : 0xf6;
    return;
  }
  if (value instanceof Uint8Array) {
    w.head(MT_BSTR, value.length);
    w.bytes(value);
    return;
  }
  if (Array.isArray(value) || value instanceof Map) {
    // the depth limit also stops cyclic structures
    if (depth >= MAX_NESTING_DEPTH) {
      encodeError('NestingTooDeep', path, `arrays and maps nested deeper than ${MAX_NESTING_DEPTH} levels`);
    }
    if (Array.isArray(value)) {
      w.head(MT_ARRAY, value.length);
      for (let i = 0; i < value.length; i++) encodeItem(w, value[i], depth + 1, `${path}[${i}]`);
      return;
    }
    const entries: { key: string; keyBytes: Uint8Array; value: unknown }[] = [];
    for (const [key, v] of value as Map<unknown, unknown>) {
      if (typeof key !== 'string') encodeError('WrongType', path, `map key ${String(key)} is not a string`);
      const kw = new Writer();
      const utf8 = encodeText(`${path} key ${JSON.stringify(key)}`, key);
      kw.head(MT_TSTR, utf8.length);
      kw.bytes(utf8);
      entries.push({ key, keyBytes: kw.buf.slice(0, kw.len), value: v });
    }
    entries.sort((a, b) => compareBytes(a.keyBytes, b.keyBytes));
    w.head(MT_MAP, entries.length);
    for (const e of entries) {
      w.bytes(e.keyBytes);
      encodeItem(w, e.value, depth + 1, `${path}[${JSON.stringify(e.key)}]`);
    }
    return;
  }
  const kind =
    value === undefined ? 'undefined' : typeof value === 'object' ? 'a plain object' : typeof value;
  encodeError('WrongType', path, `${kind} has no CBOR encoding in this subset (maps must be Map instances)`);
}

/**
 * Encodes a value in the canonical form the decoder requires. Throws ProtocolError
 * (WrongType, IntegerOutOfRange, InvalidUtf8, NestingTooDeep) for values outside the subset.
 */
export function encodeCbor(value: CborValue): Uint8Array {
  const w = new Writer();
  encodeItem(w, value, 0, 'value');
  return w.buf.slice(0, w.len);
}

/** True if `s` has no lone UTF-16 surrogate, i.e. it has an exact UTF-8 encoding. */
export function isWellFormedString(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** A short name for the CBOR type a decoded value has, for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return 'non-integer number';
    return value < 0 ? 'negative integer' : 'unsigned integer';
  }
  if (typeof value === 'string') return 'text string';
  if (typeof value === 'boolean') return 'boolean';
  if (value === null) return 'null';
  if (value === undefined) return 'nothing (undefined)';
  if (value instanceof Uint8Array) return 'byte string';
  if (Array.isArray(value)) return `array of ${value.length}`;
  if (value instanceof Map) return 'map';
  return typeof value === 'object' ? 'object' : typeof value;
}
