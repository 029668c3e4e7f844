/** A minimal ustar writer/reader: the archive API speaks tar, and these are single small files. */

export interface TarFile {
  name: string;
  data: Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  type?: 'file' | 'dir';
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

export function makeTar(files: TarFile[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const header = Buffer.alloc(512);
    const isDir = file.type === 'dir';
    const name = isDir && !file.name.endsWith('/') ? `${file.name}/` : file.name;
    if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long: ${name}`);
    header.write(name, 0, 100, 'utf8');
    header.write(octal(file.mode ?? (isDir ? 0o755 : 0o644), 8), 100, 'ascii');
    header.write(octal(file.uid ?? 0, 8), 108, 'ascii');
    header.write(octal(file.gid ?? 0, 8), 116, 'ascii');
    header.write(octal(isDir ? 0 : file.data.length, 12), 124, 'ascii');
    header.write(octal(Math.floor(Date.now() / 1000), 12), 136, 'ascii');
    header.write('        ', 148, 'ascii'); // checksum placeholder
    header.write(isDir ? '5' : '0', 156, 'ascii');
    header.write('ustar\0', 257, 'ascii');
    header.write('00', 263, 'ascii');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
    blocks.push(header);
    if (!isDir) {
      blocks.push(file.data);
      const pad = (512 - (file.data.length % 512)) % 512;
      if (pad) blocks.push(Buffer.alloc(pad));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export function readTar(archive: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  while (offset + 512 <= archive.length) {
    const header = archive.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const prefix = header.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 48);
    const full = prefix ? `${prefix}/${name}` : name;
    if (type === '0' || type === '\0')
      files.set(full, Buffer.from(archive.subarray(offset + 512, offset + 512 + size)));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}
