import { describe, expect, it } from 'vitest';
import {
  CREDENTIALS_BLOCK_ADDRESS,
  ENDPOINT_BLOCK_ADDRESS,
  MemoryBlockError,
  RAM_BASE,
  buildMemoryImage,
  decodeEndpointBlock,
  encodeEndpointBlock,
  readMemoryImage,
} from '../device/memory-contract.js';

const credentials = { certPem: '-----CERT-----\n', keyPem: '-----KEY-----\n', caPem: '-----CA-----\n' };

describe('memory contract', () => {
  it('encodes the endpoint block byte for byte as documented', () => {
    const block = encodeEndpointBlock('10.0.2.2:8081');
    // magic "WBEP", version 1, length 13, ASCII, CRC-32 little-endian
    expect(block.subarray(0, 8).toString('hex')).toBe('5742455001000d00');
    expect(block.subarray(8, 21).toString('ascii')).toBe('10.0.2.2:8081');
    expect(block.length).toBe(8 + 13 + 4);
    expect(block.readUInt32LE(21)).toBe(0x61c4dad8);
  });

  it('places both blocks at their addresses and reads them back', () => {
    const image = buildMemoryImage('gateway.local:8081', credentials);
    expect(image.readUInt32LE(ENDPOINT_BLOCK_ADDRESS - RAM_BASE)).toBe(0x50454257);
    expect(image.readUInt32LE(CREDENTIALS_BLOCK_ADDRESS - RAM_BASE)).toBe(0x52434257);
    expect(readMemoryImage(image)).toEqual({ endpoint: 'gateway.local:8081', credentials });
  });

  it('refuses garbage: wrong magic, bad CRC, bad length, bad endpoint', () => {
    const offset = ENDPOINT_BLOCK_ADDRESS - RAM_BASE;
    const image = buildMemoryImage('127.0.0.1:8081', credentials);
    expect(() => decodeEndpointBlock(Buffer.alloc(0x2000), offset)).toThrow(/bad magic/);

    const flipped = Buffer.from(image);
    flipped.writeUInt8(flipped.readUInt8(offset + 9) ^ 0x01, offset + 9);
    expect(() => decodeEndpointBlock(flipped, offset)).toThrow(/CRC mismatch/);

    const longLength = Buffer.from(image);
    longLength.writeUInt16LE(4000, offset + 6);
    expect(() => decodeEndpointBlock(longLength, offset)).toThrow(MemoryBlockError);

    const badCredentials = Buffer.from(image);
    const at = CREDENTIALS_BLOCK_ADDRESS - RAM_BASE + 30;
    badCredentials.writeUInt8(badCredentials.readUInt8(at) ^ 0xff, at);
    expect(() => readMemoryImage(badCredentials)).toThrow(/credentials block: CRC mismatch/);

    for (const endpoint of ['no-port', 'host:0', 'host:70000', 'a b:1', '']) {
      expect(() => encodeEndpointBlock(endpoint)).toThrow(MemoryBlockError);
    }
  });
});
