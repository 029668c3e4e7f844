/**
 * Static checks of an app module before anything runs it: the module must compile, import only
 * host functions of the `wasmbed` module with their exact signatures, fit its memory limit and
 * export its entry as a function of type [] -> []. Free of Node built-ins (uses only the
 * global WebAssembly), so the API can run the same checks before contacting any device.
 */
import {
  DEFAULT_ENTRY,
  formatFuncType,
  HOST_FUNCTIONS,
  HOST_MODULE,
  INITIALIZER_EXPORT,
  MEMORY_EXPORT,
  type FuncType,
  type ValType,
} from './host-api.js';
import { errorMessage } from '../../common/errors.js';

export type ExternKind = 'func' | 'table' | 'memory' | 'global' | 'tag';

export interface MemoryInfo {
  min: number;
  max: number | null;
  shared: boolean;
  memory64: boolean;
  imported: boolean;
}

export interface ModuleInfo {
  imports: Array<{ module: string; name: string; kind: ExternKind; type: FuncType | null }>;
  exports: Array<{ name: string; kind: ExternKind; type: FuncType | null }>;
  memories: MemoryInfo[];
  /** Byte range of the memory section's contents, when the module defines memory. */
  memorySection: { headerStart: number; start: number; end: number } | null;
}

export class ModuleFormatError extends Error {}

const VALTYPES: Record<number, ValType> = {
  0x7f: 'i32',
  0x7e: 'i64',
  0x7d: 'f32',
  0x7c: 'f64',
  0x7b: 'v128',
  0x70: 'funcref',
  0x6f: 'externref',
};
const KINDS: ExternKind[] = ['func', 'table', 'memory', 'global', 'tag'];

class Reader {
  constructor(
    private readonly bytes: Uint8Array,
    public pos: number,
    private readonly end: number,
  ) {}
  get done(): boolean {
    return this.pos >= this.end;
  }
  byte(): number {
    if (this.pos >= this.end) throw new ModuleFormatError('unexpected end of module');
    return this.bytes[this.pos++] as number;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 63) throw new ModuleFormatError('integer too long');
    }
    return result;
  }
  name(): string {
    const len = this.u32();
    if (this.pos + len > this.end) throw new ModuleFormatError('name runs past the end of its section');
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  valtype(): ValType {
    const b = this.byte();
    const t = VALTYPES[b];
    if (t === undefined) throw new ModuleFormatError(`unsupported value type 0x${b.toString(16)}`);
    return t;
  }
  limits(): { min: number; max: number | null; shared: boolean; memory64: boolean } {
    const flags = this.byte();
    if (flags > 7) throw new ModuleFormatError(`unsupported limits flags 0x${flags.toString(16)}`);
    const min = this.u32();
    const max = flags & 1 ? this.u32() : null;
    return { min, max, shared: (flags & 2) !== 0, memory64: (flags & 4) !== 0 };
  }
}

/** Parses the parts of a module's binary the host cares about. Throws ModuleFormatError. */
export function inspectModule(bytes: Uint8Array): ModuleInfo {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new ModuleFormatError('not a WebAssembly module (bad magic)');
  }
  const types: FuncType[] = [];
  const funcTypes: number[] = []; // function index space → type index
  const info: ModuleInfo = { imports: [], exports: [], memories: [], memorySection: null };
  const rawExports: Array<{ name: string; kind: ExternKind; index: number }> = [];
  const top = new Reader(bytes, 8, bytes.length);
  while (!top.done) {
    const headerStart = top.pos;
    const id = top.byte();
    const size = top.u32();
    const start = top.pos;
    const end = start + size;
    if (end > bytes.length) throw new ModuleFormatError(`section ${id} runs past the end of the module`);
    const r = new Reader(bytes, start, end);
    if (id === 1) {
      for (let n = r.u32(); n > 0; n--) {
        const form = r.byte();
        if (form !== 0x60) throw new ModuleFormatError(`unsupported type form 0x${form.toString(16)}`);
        const params: ValType[] = [];
        for (let k = r.u32(); k > 0; k--) params.push(r.valtype());
        const results: ValType[] = [];
        for (let k = r.u32(); k > 0; k--) results.push(r.valtype());
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = r.u32(); n > 0; n--) {
        const module = r.name();
        const name = r.name();
        const kindByte = r.byte();
        const kind = KINDS[kindByte];
        if (kind === undefined) throw new ModuleFormatError(`unknown import kind ${kindByte}`);
        let type: FuncType | null = null;
        if (kind === 'func') {
          const idx = r.u32();
          type = types[idx] ?? null;
          funcTypes.push(idx);
        } else if (kind === 'table') {
          r.valtype();
          r.limits();
        } else if (kind === 'memory') {
          info.memories.push({ ...r.limits(), imported: true });
        } else if (kind === 'global') {
          r.valtype();
          r.byte();
        } else {
          r.byte();
          r.u32();
        }
        info.imports.push({ module, name, kind, type });
      }
    } else if (id === 3) {
      for (let n = r.u32(); n > 0; n--) funcTypes.push(r.u32());
    } else if (id === 5) {
      info.memorySection = { headerStart, start, end };
      for (let n = r.u32(); n > 0; n--) info.memories.push({ ...r.limits(), imported: false });
    } else if (id === 7) {
      for (let n = r.u32(); n > 0; n--) {
        const name = r.name();
        const kindByte = r.byte();
        const kind = KINDS[kindByte];
        if (kind === undefined) throw new ModuleFormatError(`unknown export kind ${kindByte}`);
        rawExports.push({ name, kind, index: r.u32() });
      }
    }
    top.pos = end;
  }
  for (const e of rawExports) {
    const typeIdx = e.kind === 'func' ? funcTypes[e.index] : undefined;
    info.exports.push({
      name: e.name,
      kind: e.kind,
      type: typeIdx === undefined ? null : (types[typeIdx] ?? null),
    });
  }
  return info;
}

export interface AppCheckOptions {
  /** The export to run; DEFAULT_ENTRY when omitted or empty. */
  entry?: string;
  /** The most linear memory, in 64 KiB pages, the app may have. */
  memoryPages: number;
  /** Largest module in bytes (the device's maxAppSize), if any. */
  maxModuleBytes?: number;
}

export type AppCheck =
  | {
      ok: true;
      info: ModuleInfo;
      entry: string;
      /** The memory maximum the app runs with (pages), null when it has no memory. */
      memoryMaxPages: number | null;
    }
  | { ok: false; error: string };

const sameType = (a: FuncType, b: FuncType) =>
  a.params.length === b.params.length &&
  a.results.length === b.results.length &&
  a.params.every((p, i) => p === b.params[i]) &&
  a.results.every((p, i) => p === b.results[i]);

/**
 * Checks a module against the host API and the app's limits. Errors name the offending
 * import, export or limit, e.g. `import "wasmbed"."foo" is not a host function`.
 */
export function checkAppModule(bytes: Uint8Array, opts: AppCheckOptions): AppCheck {
  const entry = opts.entry || DEFAULT_ENTRY;
  const fail = (error: string): AppCheck => ({ ok: false, error });
  if (opts.maxModuleBytes !== undefined && bytes.length > opts.maxModuleBytes) {
    return fail(
      `module is ${bytes.length} bytes, more than the device accepts (${opts.maxModuleBytes} bytes)`,
    );
  }
  if (!WebAssembly.validate(bytes as BufferSource)) {
    let reason = 'it does not validate';
    try {
      new WebAssembly.Module(bytes as BufferSource);
    } catch (err) {
      reason = err instanceof Error ? err.message.replace(/^WebAssembly\.Module\(\): /, '') : String(err);
    }
    return fail(`invalid WebAssembly module: ${reason}`);
  }
  let info: ModuleInfo;
  try {
    info = inspectModule(bytes);
  } catch (err) {
    return fail(`unsupported WebAssembly module: ${errorMessage(err)}`);
  }
  for (const imp of info.imports) {
    const what = `import "${imp.module}"."${imp.name}"`;
    if (imp.module !== HOST_MODULE) {
      return fail(`${what} is not allowed: apps may import only host functions from "${HOST_MODULE}"`);
    }
    if (imp.kind !== 'func') {
      return fail(`${what} is a ${imp.kind}: apps may import only host functions from "${HOST_MODULE}"`);
    }
    const expected = HOST_FUNCTIONS[imp.name];
    if (expected === undefined || !Object.hasOwn(HOST_FUNCTIONS, imp.name)) {
      return fail(`${what} is not a host function (known: ${Object.keys(HOST_FUNCTIONS).join(', ')})`);
    }
    if (imp.type === null || !sameType(imp.type, expected)) {
      return fail(
        `${what} has the wrong signature: the host provides ${formatFuncType(expected)}, ` +
          `the module expects ${imp.type ? formatFuncType(imp.type) : 'an unknown type'}`,
      );
    }
  }
  const limit = opts.memoryPages;
  let memoryMaxPages: number | null = null;
  if (info.memories.length > 1) return fail('modules with more than one memory are not supported');
  const mem = info.memories[0];
  if (mem) {
    if (mem.memory64) return fail('64-bit memory is not supported');
    if (mem.shared) return fail('shared memory is not supported');
    if (mem.min > limit) {
      return fail(
        `memory needs ${mem.min} pages initially, more than the limit of ${limit} pages (64 KiB each)`,
      );
    }
    if (mem.max !== null && mem.max > limit) {
      return fail(`memory maximum of ${mem.max} pages exceeds the limit of ${limit} pages (64 KiB each)`);
    }
    if (!info.exports.some((e) => e.kind === 'memory' && e.name === MEMORY_EXPORT)) {
      return fail(`the module's memory must be exported as "${MEMORY_EXPORT}"`);
    }
    memoryMaxPages = mem.max ?? limit;
  }
  const checkVoidExport = (name: string, role: string, required: boolean): string | null => {
    const exp = info.exports.find((e) => e.name === name);
    if (!exp) return required ? `${role} "${name}" is not exported by the module` : null;
    if (exp.kind !== 'func') return `${role} "${name}" is a ${exp.kind}, not a function`;
    if (!exp.type || exp.type.params.length > 0 || exp.type.results.length > 0) {
      return `${role} "${name}" must take no parameters and return nothing, but is ${exp.type ? formatFuncType(exp.type) : 'of unknown type'}`;
    }
    return null;
  };
  const entryError =
    checkVoidExport(entry, 'entry', true) ?? checkVoidExport(INITIALIZER_EXPORT, 'initializer', false);
  if (entryError) return fail(entryError);
  return { ok: true, info, entry, memoryMaxPages };
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/**
 * Returns the module with its (single, defined) memory's maximum set to `maxPages` when it
 * declares none, so `memory.grow` past the limit fails (returns -1) instead of growing; the
 * module unchanged otherwise.
 */
export function capMemory(bytes: Uint8Array, info: ModuleInfo, maxPages: number): Uint8Array {
  const mem = info.memories[0];
  if (!mem || mem.imported || mem.max !== null || !info.memorySection) return bytes;
  const content = [...uleb(1), 0x01, ...uleb(mem.min), ...uleb(maxPages)];
  const { headerStart, end } = info.memorySection;
  const header = [5, ...uleb(content.length)];
  const out = new Uint8Array(headerStart + header.length + content.length + (bytes.length - end));
  out.set(bytes.subarray(0, headerStart), 0);
  out.set(header, headerStart);
  out.set(content, headerStart + header.length);
  out.set(bytes.subarray(end), headerStart + header.length + content.length);
  return out;
}
