/**
 * The memory contract between the platform and device firmware (docs/memory-contract.md).
 * Emulators write these blocks into RAM before the CPU starts; the virtual device reads
 * them from its memory image file. All integers are little-endian, as on Cortex-M.
 */
import zlib from 'node:zlib';
import { WasmbedError } from '../common/errors.js';

export const RAM_BASE = 0x2000_0000;
export const ENDPOINT_BLOCK_ADDRESS = 0x2000_1000;
export const CREDENTIALS_BLOCK_ADDRESS = 0x2000_2000;
/** The credentials block may use the RAM up to here (12 KiB). */
export const CREDENTIALS_BLOCK_END = 0x2000_5000;
/** Size of the virtual device's memory image file (covers both blocks). */
export const MEMORY_IMAGE_BYTES = 0x8000;

export const ENDPOINT_MAGIC = 0x5045_4257; // "WBEP" in memory order
export const CREDENTIALS_MAGIC = 0x5243_4257; // "WBCR" in memory order
export const BLOCK_VERSION = 1;
export const MAX_ENDPOINT_LENGTH = 255;

export class MemoryBlockError extends WasmbedError {
  constructor(
    readonly block: 'endpoint' | 'credentials',
    message: string,
  ) {
    super('InvalidMemoryBlock', `${block} block: ${message}`);
  }
}

export interface DeviceCredentials {
  certPem: string;
  keyPem: string;
  caPem: string;
}

const ENDPOINT_PATTERN = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/;

export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const match = ENDPOINT_PATTERN.exec(endpoint);
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65535) {
    throw new MemoryBlockError('endpoint', `"${endpoint}" is not host:port with a port in 1..65535`);
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** magic u32 | version u16 | length u16 | ASCII host:port | crc32 u32 over all before it */
export function encodeEndpointBlock(endpoint: string): Buffer {
  parseEndpoint(endpoint);
  const text = Buffer.from(endpoint, 'ascii');
  if (text.length > MAX_ENDPOINT_LENGTH)
    throw new MemoryBlockError('endpoint', 'endpoint longer than 255 bytes');
  const block = Buffer.alloc(8 + text.length + 4);
  block.writeUInt32LE(ENDPOINT_MAGIC, 0);
  block.writeUInt16LE(BLOCK_VERSION, 4);
  block.writeUInt16LE(text.length, 6);
  text.copy(block, 8);
  block.writeUInt32LE(zlib.crc32(block.subarray(0, 8 + text.length)), 8 + text.length);
  return block;
}

export function decodeEndpointBlock(memory: Buffer, offset: number): string {
  if (memory.length < offset + 12) throw new MemoryBlockError('endpoint', 'memory too small');
  if (memory.readUInt32LE(offset) !== ENDPOINT_MAGIC) throw new MemoryBlockError('endpoint', 'bad magic');
  const version = memory.readUInt16LE(offset + 4);
  if (version !== BLOCK_VERSION) throw new MemoryBlockError('endpoint', `unsupported version ${version}`);
  const length = memory.readUInt16LE(offset + 6);
  if (length === 0 || length > MAX_ENDPOINT_LENGTH || offset + 12 + length > memory.length) {
    throw new MemoryBlockError('endpoint', `bad length ${length}`);
  }
  const crc = memory.readUInt32LE(offset + 8 + length);
  if (zlib.crc32(memory.subarray(offset, offset + 8 + length)) !== crc) {
    throw new MemoryBlockError('endpoint', 'CRC mismatch');
  }
  const text = memory.subarray(offset + 8, offset + 8 + length);
  if (!text.every((byte) => byte > 0x20 && byte < 0x7f)) {
    throw new MemoryBlockError('endpoint', 'endpoint is not printable ASCII');
  }
  const endpoint = text.toString('ascii');
  parseEndpoint(endpoint);
  return endpoint;
}

/**
 * magic u32 | version u16 | reserved u16 | certLen u32 | keyLen u32 | caLen u32 |
 * cert PEM, NUL | key PEM, NUL | CA PEM, NUL | crc32 u32 over all before it.
 * The lengths exclude the NUL terminators, which mbedTLS's PEM parser needs.
 */
export function encodeCredentialsBlock(credentials: DeviceCredentials): Buffer {
  const parts = [credentials.certPem, credentials.keyPem, credentials.caPem].map((p) =>
    Buffer.from(p, 'ascii'),
  );
  const bodyLength = parts.reduce((sum, p) => sum + p.length + 1, 0);
  const block = Buffer.alloc(20 + bodyLength + 4);
  if (CREDENTIALS_BLOCK_ADDRESS + block.length > CREDENTIALS_BLOCK_END) {
    throw new MemoryBlockError('credentials', `${block.length} bytes do not fit the 12 KiB block`);
  }
  block.writeUInt32LE(CREDENTIALS_MAGIC, 0);
  block.writeUInt16LE(BLOCK_VERSION, 4);
  parts.forEach((p, i) => block.writeUInt32LE(p.length, 8 + 4 * i));
  let cursor = 20;
  for (const part of parts) {
    part.copy(block, cursor);
    cursor += part.length + 1; // NUL already there from alloc
  }
  block.writeUInt32LE(zlib.crc32(block.subarray(0, cursor)), cursor);
  return block;
}

export function decodeCredentialsBlock(memory: Buffer, offset: number): DeviceCredentials {
  const limit = Math.min(memory.length, offset + (CREDENTIALS_BLOCK_END - CREDENTIALS_BLOCK_ADDRESS));
  if (limit < offset + 24) throw new MemoryBlockError('credentials', 'memory too small');
  if (memory.readUInt32LE(offset) !== CREDENTIALS_MAGIC)
    throw new MemoryBlockError('credentials', 'bad magic');
  const version = memory.readUInt16LE(offset + 4);
  if (version !== BLOCK_VERSION) throw new MemoryBlockError('credentials', `unsupported version ${version}`);
  const lengths = [0, 1, 2].map((i) => memory.readUInt32LE(offset + 8 + 4 * i));
  const bodyLength = lengths.reduce((sum, l) => sum + l + 1, 0);
  if (offset + 20 + bodyLength + 4 > limit)
    throw new MemoryBlockError('credentials', 'lengths exceed the block');
  const end = offset + 20 + bodyLength;
  if (zlib.crc32(memory.subarray(offset, end)) !== memory.readUInt32LE(end)) {
    throw new MemoryBlockError('credentials', 'CRC mismatch');
  }
  let cursor = offset + 20;
  const texts = lengths.map((length) => {
    const text = memory.subarray(cursor, cursor + length).toString('ascii');
    if (memory[cursor + length] !== 0) throw new MemoryBlockError('credentials', 'missing NUL terminator');
    cursor += length + 1;
    return text;
  });
  const [certPem, keyPem, caPem] = texts as [string, string, string];
  return { certPem, keyPem, caPem };
}

/** Returns a full memory image with both blocks at their addresses. */
export function buildMemoryImage(endpoint: string, credentials: DeviceCredentials): Buffer {
  const image = Buffer.alloc(MEMORY_IMAGE_BYTES);
  encodeEndpointBlock(endpoint).copy(image, ENDPOINT_BLOCK_ADDRESS - RAM_BASE);
  encodeCredentialsBlock(credentials).copy(image, CREDENTIALS_BLOCK_ADDRESS - RAM_BASE);
  return image;
}

export function readMemoryImage(image: Buffer): { endpoint: string; credentials: DeviceCredentials } {
  return {
    endpoint: decodeEndpointBlock(image, ENDPOINT_BLOCK_ADDRESS - RAM_BASE),
    credentials: decodeCredentialsBlock(image, CREDENTIALS_BLOCK_ADDRESS - RAM_BASE),
  };
}
