/**
 * The device wire protocol, version 1: envelope and message bodies (docs/protocol.md).
 *
 *   envelope = [version: uint, messageId: uint32, body]
 *   body     = [tag: uint, field1, field2, ...]   exactly 1 + number-of-fields items
 *
 * Optional fields are always present in their fixed position, as null when unset.
 * Decoding validates every field's type and throws only ProtocolError; encoding applies the
 * same validation, so nothing is sent that a conforming peer would reject.
 */
import {
  type CborMap,
  type CborValue,
  asProtocolError,
  decodeCbor,
  describeValue,
  encodeCbor,
  isWellFormedString,
} from './cbor.js';
import { ProtocolError, type ProtocolErrorReason } from './errors.js';

export const PROTOCOL_VERSION = 1;
export const MAX_MESSAGE_ID = 0xffff_ffff;

/**
 * Who numbers which ids (docs/protocol.md, envelope). Replies carry the request's id, so if both
 * peers counted over the same range an unsolicited ApplicationStatus from a device could take
 * the id of the gateway's pending RequestApplicationStatus and be mistaken for its reply. Split
 * ranges make that impossible.
 */
export const MESSAGE_ID_RANGES = {
  device: { first: 1, last: 0x7fff_ffff },
  gateway: { first: 0x8000_0000, last: MAX_MESSAGE_ID },
} as const;
export type MessageIdSpace = keyof typeof MESSAGE_ID_RANGES;

export const APP_STATES = ['Deploying', 'Running', 'Exited', 'Failed', 'Stopped'] as const;
export type AppState = (typeof APP_STATES)[number];

/** Log levels on the wire: the index is the value (0 debug, 1 info, 2 warn, 3 error). */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = 0 | 1 | 2 | 3;

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/** Tag 1, device → gateway. */
export interface Heartbeat {
  type: 'Heartbeat';
  uptimeMs: number;
}
/** Tag 2, gateway → device, reply to Heartbeat. */
export interface HeartbeatAck {
  type: 'HeartbeatAck';
  /** Unix time in milliseconds. */
  serverTimeMs: number;
  /** The interval the device must use from now on. */
  heartbeatIntervalMs: number;
}
/** Tag 3, device → gateway: the Hello (first message of a session) and the reply to RequestDeviceInfo. */
export interface DeviceInfo {
  type: 'DeviceInfo';
  firmwareVersion: string;
  mcuType: string;
  freeMemory: number;
  maxAppSize: number;
  wasmFeatures: string[];
}
/** Tag 4, device → gateway. */
export interface EnrollmentRequest {
  type: 'EnrollmentRequest';
  csrDer: Uint8Array;
  claimToken: string | null;
}
/** Tag 5, gateway → device, reply to EnrollmentRequest. */
export interface EnrollmentAccepted {
  type: 'EnrollmentAccepted';
  certificateDer: Uint8Array;
  caCertificateDer: Uint8Array;
}
/** Tag 6, gateway → device, reply to EnrollmentRequest. */
export interface EnrollmentRejected {
  type: 'EnrollmentRejected';
  reason: string;
}
export interface AppLimits {
  memoryPages: number;
  cpuMsPerCall: number | null;
}
/** Tag 7, gateway → device. */
export interface DeployApplication {
  type: 'DeployApplication';
  appId: string;
  name: string;
  module: Uint8Array;
  entry: string;
  limits: AppLimits;
  /** Decoded as an object with a null prototype (so a "__proto__" key is plain data). */
  env: Record<string, string>;
  args: string[];
}

/**
 * The DeployApplication a device gets for an app and its module (no env or args: none). One
 * builder for the gateway, which sends it, and for the fit check (device/apps/fit.ts), which
 * measures it against a board's frame before anything is stored.
 */
export function deployApplicationMessage(
  app: Pick<DeployApplication, 'appId' | 'name' | 'entry' | 'limits'> &
    Partial<Pick<DeployApplication, 'env' | 'args'>>,
  module: Uint8Array,
): DeployApplication {
  return {
    type: 'DeployApplication',
    appId: app.appId,
    name: app.name,
    module,
    entry: app.entry,
    limits: app.limits,
    env: app.env ?? {},
    args: app.args ?? [],
  };
}
/** Tag 8, device → gateway, reply to DeployApplication. */
export interface DeployAck {
  type: 'DeployAck';
  appId: string;
  ok: boolean;
  error: string | null;
}
/** Tag 9, gateway → device. */
export interface StopApplication {
  type: 'StopApplication';
  appId: string;
}
/** Tag 10, device → gateway, reply to StopApplication. */
export interface StopAck {
  type: 'StopAck';
  appId: string;
  ok: boolean;
  error: string | null;
}
/** Tag 11, gateway → device. */
export interface RequestDeviceInfo {
  type: 'RequestDeviceInfo';
}
/** Tag 12, gateway → device. appId null asks for every app. */
export interface RequestApplicationStatus {
  type: 'RequestApplicationStatus';
  appId: string | null;
}
export interface AppStatusEntry {
  appId: string;
  state: AppState;
  error: string | null;
  restarts: number;
}
/** Tag 13, device → gateway: reply to RequestApplicationStatus, or unsolicited on a state change. */
export interface ApplicationStatus {
  type: 'ApplicationStatus';
  apps: AppStatusEntry[];
}
/** Tag 14, device → gateway. appId null = the firmware's own log. */
export interface Log {
  type: 'Log';
  appId: string | null;
  level: LogLevel;
  message: string;
  timestampMs: number;
}
/** Tag 15, device → gateway. */
export interface Publish {
  type: 'Publish';
  appId: string;
  topic: string;
  data: Uint8Array;
}

export type Message =
  | Heartbeat
  | HeartbeatAck
  | DeviceInfo
  | EnrollmentRequest
  | EnrollmentAccepted
  | EnrollmentRejected
  | DeployApplication
  | DeployAck
  | StopApplication
  | StopAck
  | RequestDeviceInfo
  | RequestApplicationStatus
  | ApplicationStatus
  | Log
  | Publish;

export type MessageType = Message['type'];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

export interface Envelope {
  version: number;
  messageId: number;
  body: Message;
}

export const MESSAGE_TAGS = {
  Heartbeat: 1,
  HeartbeatAck: 2,
  DeviceInfo: 3,
  EnrollmentRequest: 4,
  EnrollmentAccepted: 5,
  EnrollmentRejected: 6,
  DeployApplication: 7,
  DeployAck: 8,
  StopApplication: 9,
  StopAck: 10,
  RequestDeviceInfo: 11,
  RequestApplicationStatus: 12,
  ApplicationStatus: 13,
  Log: 14,
  Publish: 15,
} as const satisfies Record<MessageType, number>;

export const MESSAGE_TYPES: readonly MessageType[] = Object.keys(MESSAGE_TAGS) as MessageType[];

/** Default heartbeat interval; the gateway may change it in every HeartbeatAck. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;
/** A peer that hears nothing for this many heartbeat intervals considers the session dead. */
export const HEARTBEAT_TIMEOUT_INTERVALS = 3;

/**
 * The reply each request expects (same messageId) and how long to wait for it by default.
 * Messages not listed expect no reply.
 */
export const EXPECTED_REPLY: {
  readonly [K in MessageType]?: { replies: readonly MessageType[]; timeoutMs: number };
} = {
  Heartbeat: {
    replies: ['HeartbeatAck'],
    timeoutMs: HEARTBEAT_TIMEOUT_INTERVALS * DEFAULT_HEARTBEAT_INTERVAL_MS,
  },
  EnrollmentRequest: { replies: ['EnrollmentAccepted', 'EnrollmentRejected'], timeoutMs: 10 * 60_000 },
  DeployApplication: { replies: ['DeployAck'], timeoutMs: 30_000 },
  StopApplication: { replies: ['StopAck'], timeoutMs: 10_000 },
  RequestDeviceInfo: { replies: ['DeviceInfo'], timeoutMs: 5_000 },
  RequestApplicationStatus: { replies: ['ApplicationStatus'], timeoutMs: 5_000 },
};

/** Builds a version-1 envelope. */
export function envelope(messageId: number, body: Message): Envelope {
  return { version: PROTOCOL_VERSION, messageId, body };
}

// ---------------------------------------------------------------------------------------------
// Field codecs: each validates (both directions) and names the field in its error
// ---------------------------------------------------------------------------------------------

interface FieldCodec<T> {
  /** Validates a JS value and turns it into its CBOR value. */
  encode(value: unknown, path: string): CborValue;
  /** Validates a decoded CBOR value and turns it into its JS value. */
  decode(value: CborValue, path: string): T;
}

function fail(reason: ProtocolErrorReason, path: string, message: string): never {
  throw new ProtocolError(reason, `${path} ${message}`, { field: path });
}

function wrongType(path: string, expected: string, value: unknown): never {
  fail('WrongType', path, `must be ${expected} (got ${describeValue(value)})`);
}

function checkUint(value: unknown, path: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    wrongType(path, 'an unsigned integer', value);
  }
  if (value > max) fail('IntegerOutOfRange', path, `must be at most ${max} (got ${value})`);
  return value;
}

function checkText(value: unknown, path: string): string {
  if (typeof value !== 'string') wrongType(path, 'a text string', value);
  if (!isWellFormedString(value)) fail('InvalidUtf8', path, 'contains a lone UTF-16 surrogate');
  return value;
}

function checkArray(value: unknown, path: string, length?: number, what = 'an array'): unknown[] {
  if (!Array.isArray(value)) wrongType(path, what, value);
  if (length !== undefined && value.length !== length) {
    fail('WrongArrayLength', path, `must have exactly ${length} items (got ${value.length})`);
  }
  return value;
}

const uint: FieldCodec<number> = {
  encode: (v, p) => checkUint(v, p),
  decode: (v, p) => checkUint(v, p),
};

const tstr: FieldCodec<string> = {
  encode: (v, p) => checkText(v, p),
  decode: (v, p) => checkText(v, p),
};

const bstr: FieldCodec<Uint8Array> = {
  encode(v, p) {
    if (!(v instanceof Uint8Array)) wrongType(p, 'a byte string', v);
    return v;
  },
  decode(v, p) {
    if (!(v instanceof Uint8Array)) wrongType(p, 'a byte string', v);
    return v;
  },
};

const bool: FieldCodec<boolean> = {
  encode(v, p) {
    if (typeof v !== 'boolean') wrongType(p, 'a boolean', v);
    return v;
  },
  decode(v, p) {
    if (typeof v !== 'boolean') wrongType(p, 'a boolean', v);
    return v;
  },
};

function nullable<T>(codec: FieldCodec<T>): FieldCodec<T | null> {
  return {
    encode: (v, p) => (v === null ? null : codec.encode(v, p)),
    decode: (v, p) => (v === null ? null : codec.decode(v, p)),
  };
}

function arrayOf<T>(codec: FieldCodec<T>): FieldCodec<T[]> {
  return {
    encode: (v, p) => checkArray(v, p).map((item, i) => codec.encode(item, `${p}[${i}]`)),
    decode: (v, p) => checkArray(v, p).map((item, i) => codec.decode(item as CborValue, `${p}[${i}]`)),
  };
}

/** A fixed-length inner array mapped to an object, e.g. limits = [memoryPages, cpuMsPerCall]. */
function tuple<T>(fields: readonly (readonly [string, FieldCodec<unknown>])[]): FieldCodec<T> {
  return {
    encode(v, p) {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
        wrongType(p, 'an object', v);
      }
      const record = v as Record<string, unknown>;
      return fields.map(([name, codec]) => codec.encode(record[name], `${p}.${name}`));
    },
    decode(v, p) {
      const items = checkArray(v, p, fields.length, `an array of ${fields.length}`);
      const out: Record<string, unknown> = {};
      fields.forEach(([name, codec], i) => {
        out[name] = codec.decode(items[i] as CborValue, `${p}.${name}`);
      });
      return out as T;
    },
  };
}

function oneOf<T extends string>(values: readonly T[]): FieldCodec<T> {
  const check = (v: unknown, p: string): T => {
    const s = checkText(v, p);
    if (!(values as readonly string[]).includes(s)) {
      fail('InvalidValue', p, `must be one of ${values.join(', ')} (got ${JSON.stringify(s)})`);
    }
    return s as T;
  };
  return { encode: check, decode: check };
}

const logLevel: FieldCodec<LogLevel> = {
  encode: (v, p) => checkLevel(v, p),
  decode: (v, p) => checkLevel(v, p),
};

function checkLevel(v: unknown, p: string): LogLevel {
  const n = checkUint(v, p);
  if (n > 3) fail('InvalidValue', p, `must be 0 (debug), 1 (info), 2 (warn) or 3 (error) (got ${n})`);
  return n as LogLevel;
}

/** env: map of text → text. JS side: a plain object; decoded objects have a null prototype. */
const stringMap: FieldCodec<Record<string, string>> = {
  encode(v, p) {
    if (
      typeof v !== 'object' ||
      v === null ||
      Array.isArray(v) ||
      v instanceof Uint8Array ||
      v instanceof Map
    ) {
      wrongType(p, 'an object of strings', v);
    }
    const map: CborMap = new Map();
    for (const [key, value] of Object.entries(v)) {
      const keyPath = `${p}[${JSON.stringify(key)}]`;
      if (!isWellFormedString(key)) fail('InvalidUtf8', keyPath, 'key contains a lone UTF-16 surrogate');
      map.set(key, checkText(value, keyPath));
    }
    return map;
  },
  decode(v, p) {
    if (!(v instanceof Map)) wrongType(p, 'a map', v);
    const out = Object.create(null) as Record<string, string>;
    for (const [key, value] of v) out[key] = checkText(value, `${p}[${JSON.stringify(key)}]`);
    return out;
  },
};

const limits = tuple<AppLimits>([
  ['memoryPages', uint],
  ['cpuMsPerCall', nullable(uint)],
]);

const appStatusEntry = tuple<AppStatusEntry>([
  ['appId', tstr],
  ['state', oneOf(APP_STATES)],
  ['error', nullable(tstr)],
  ['restarts', uint],
]);

// ---------------------------------------------------------------------------------------------
// Message schemas: field order is the wire order and is frozen for version 1
// ---------------------------------------------------------------------------------------------

type Schema = {
  readonly [T in MessageType]: readonly (readonly [
    Exclude<keyof MessageOf<T>, 'type'>,
    FieldCodec<unknown>,
  ])[];
};

const SCHEMA: Schema = {
  Heartbeat: [['uptimeMs', uint]],
  HeartbeatAck: [
    ['serverTimeMs', uint],
    ['heartbeatIntervalMs', uint],
  ],
  DeviceInfo: [
    ['firmwareVersion', tstr],
    ['mcuType', tstr],
    ['freeMemory', uint],
    ['maxAppSize', uint],
    ['wasmFeatures', arrayOf(tstr)],
  ],
  EnrollmentRequest: [
    ['csrDer', bstr],
    ['claimToken', nullable(tstr)],
  ],
  EnrollmentAccepted: [
    ['certificateDer', bstr],
    ['caCertificateDer', bstr],
  ],
  EnrollmentRejected: [['reason', tstr]],
  DeployApplication: [
    ['appId', tstr],
    ['name', tstr],
    ['module', bstr],
    ['entry', tstr],
    ['limits', limits],
    ['env', stringMap],
    ['args', arrayOf(tstr)],
  ],
  DeployAck: [
    ['appId', tstr],
    ['ok', bool],
    ['error', nullable(tstr)],
  ],
  StopApplication: [['appId', tstr]],
  StopAck: [
    ['appId', tstr],
    ['ok', bool],
    ['error', nullable(tstr)],
  ],
  RequestDeviceInfo: [],
  RequestApplicationStatus: [['appId', nullable(tstr)]],
  ApplicationStatus: [['apps', arrayOf(appStatusEntry)]],
  Log: [
    ['appId', nullable(tstr)],
    ['level', logLevel],
    ['message', tstr],
    ['timestampMs', uint],
  ],
  Publish: [
    ['appId', tstr],
    ['topic', tstr],
    ['data', bstr],
  ],
};

const TYPE_BY_TAG = new Map<number, MessageType>(MESSAGE_TYPES.map((t) => [MESSAGE_TAGS[t], t]));

/** The field names of a message type in wire order (after the tag). */
export function messageFields(type: MessageType): readonly string[] {
  return SCHEMA[type].map(([name]) => String(name));
}

// ---------------------------------------------------------------------------------------------
// Envelope encode / decode
// ---------------------------------------------------------------------------------------------

function bodyToCbor(body: unknown): CborValue[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    wrongType('body', 'a message object', body);
  const type = (body as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.hasOwn(MESSAGE_TAGS, type)) {
    fail(
      'UnknownTag',
      'body.type',
      `${JSON.stringify(type)} is not a message type of protocol version ${PROTOCOL_VERSION}`,
    );
  }
  const t = type as MessageType;
  const record = body as Record<string, unknown>;
  const out: CborValue[] = [MESSAGE_TAGS[t]];
  for (const [name, codec] of SCHEMA[t]) {
    const field = String(name);
    out.push(codec.encode(record[field], `${t}.${field}`));
  }
  return out;
}

/** The envelope as a CBOR value, validated. Throws ProtocolError. */
export function envelopeToCbor(env: Envelope): CborValue {
  if (typeof env !== 'object' || env === null) wrongType('envelope', 'an object', env);
  const version = checkUint(env.version, 'envelope.version');
  if (version !== PROTOCOL_VERSION) {
    fail(
      'UnsupportedVersion',
      'envelope.version',
      `${version} is not supported (this codec speaks version ${PROTOCOL_VERSION})`,
    );
  }
  const messageId = checkUint(env.messageId, 'envelope.messageId', MAX_MESSAGE_ID);
  return [version, messageId, bodyToCbor(env.body)];
}

/** Encodes an envelope to its canonical CBOR bytes. Throws ProtocolError for an invalid message. */
export function encodeEnvelope(env: Envelope): Uint8Array {
  return encodeCbor(envelopeToCbor(env));
}

/**
 * The most bytes `body` takes as a frame's payload: encoded with the longest message id, so the
 * size holds whatever id it is sent with. What a frame-size check measures.
 */
export function largestEnvelopeSize(body: Message): number {
  return encodeEnvelope({ version: PROTOCOL_VERSION, messageId: MAX_MESSAGE_ID, body }).length;
}

/** Validates a decoded CBOR value as an envelope. Throws only ProtocolError. */
export function envelopeFromCbor(value: CborValue): Envelope {
  try {
    const top = checkArray(value, 'envelope');
    // The version comes first and is checked before anything else about the envelope, so that a
    // later version may change the envelope's shape and still be recognised and refused cleanly.
    if (top.length === 0) fail('WrongArrayLength', 'envelope', 'must have exactly 3 items (got 0)');
    const version = checkUint(top[0], 'envelope.version');
    if (version !== PROTOCOL_VERSION) {
      fail(
        'UnsupportedVersion',
        'envelope.version',
        `${version} is not supported (this codec speaks version ${PROTOCOL_VERSION})`,
      );
    }
    checkArray(top, 'envelope', 3);
    const messageId = checkUint(top[1], 'envelope.messageId', MAX_MESSAGE_ID);

    const body = checkArray(top[2], 'envelope.body');
    if (body.length === 0)
      fail('WrongArrayLength', 'envelope.body', 'must start with a message tag (got an empty array)');
    const tag = checkUint(body[0], 'envelope.body.tag');
    const type = TYPE_BY_TAG.get(tag);
    if (type === undefined) {
      throw new ProtocolError(
        'UnknownTag',
        `envelope.body.tag ${tag} is not a message of protocol version ${PROTOCOL_VERSION}`,
        {
          field: 'envelope.body.tag',
          messageId,
          tag,
        },
      );
    }
    const fields = SCHEMA[type];
    if (body.length !== fields.length + 1) {
      fail(
        'WrongArrayLength',
        type,
        `body must have exactly ${fields.length + 1} items (tag + ${fields.length} field(s)), got ${body.length}`,
      );
    }
    const message: Record<string, unknown> = { type };
    fields.forEach(([name, codec], i) => {
      const field = String(name);
      message[field] = codec.decode(body[i + 1] as CborValue, `${type}.${field}`);
    });
    return { version, messageId, body: message as unknown as Message };
  } catch (err) {
    throw asProtocolError(err);
  }
}

/** Decodes one envelope from exactly `bytes` (one frame's payload). Throws only ProtocolError. */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  return envelopeFromCbor(decodeCbor(bytes));
}
