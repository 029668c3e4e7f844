/** Grows a valid WebAssembly module with a custom section, for size-limit tests and benchmarks. */

function uleb128(value: number): number[] {
  const out: number[] = [];
  for (let v = value; ;) {
    const byte = v & 0x7f;
    v >>>= 7;
    out.push(v ? byte | 0x80 : byte);
    if (!v) return out;
  }
}

/** `module` followed by a custom section named "pad" carrying `payloadBytes` zero bytes. */
export function withCustomSection(module: Buffer, payloadBytes: number): Buffer {
  const name = Buffer.from('pad');
  const body = name.length + 1 + payloadBytes;
  return Buffer.concat([
    module,
    Buffer.from([0, ...uleb128(body), name.length]),
    name,
    Buffer.alloc(payloadBytes),
  ]);
}

/** `module` padded with a custom section to exactly `size` bytes. */
export function padToSize(module: Buffer, size: number): Buffer {
  for (let payload = size - module.length - 8; payload > 0; payload--) {
    const padded = withCustomSection(module, payload);
    if (padded.length === size) return padded;
  }
  throw new Error(`cannot pad a ${module.length}-byte module to ${size} bytes`);
}
