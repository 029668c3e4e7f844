/**
 * The few DER building blocks the PKI assembles certificates and CSRs from (single-byte tags,
 * definite lengths). Parsing lives in certificate-info.ts (readTlv, childrenOf).
 */
import forge from 'node-forge';

/** DER TLV with a single-byte tag and definite length. */
export function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const len = body.length;
  if (len < 0x80) return Buffer.concat([Buffer.from([tag, len]), body]);
  const lenBytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) lenBytes.unshift(v & 0xff);
  return Buffer.concat([Buffer.from([tag, 0x80 | lenBytes.length, ...lenBytes]), body]);
}

export function seq(...contents: Buffer[]): Buffer {
  return tlv(0x30, ...contents);
}

export function oid(dotted: string): Buffer {
  return tlv(0x06, Buffer.from(forge.asn1.oidToDer(dotted).getBytes(), 'binary'));
}

export function extension(extnId: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(extnId), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

export function distinguishedName(attrs: Array<[string, string]>): Buffer {
  return seq(
    ...attrs.map(([type, value]) =>
      tlv(
        0x31,
        seq(
          oid(type),
          PRINTABLE.test(value)
            ? tlv(0x13, Buffer.from(value, 'latin1'))
            : tlv(0x0c, Buffer.from(value, 'utf8')),
        ),
      ),
    ),
  );
}
