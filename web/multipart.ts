/**
 * multipart/form-data request bodies, read with a size limit and parsed strictly. The parsing
 * itself is the platform's (the fetch API's `Response.formData()`, built into Node), so no
 * hand-written boundary scanner handles untrusted bytes; what this file adds is the limits and
 * the rules: a body over its limit is refused while it streams in, every part must be one of the
 * expected fields, given once, files only where files are expected and text elsewhere.
 */
import type { Request } from 'express';
import { TooLargeError, ValidationError } from '../common/errors.js';

export interface MultipartLimits {
  /** Largest body accepted, in bytes (all parts and their headers). */
  maxBodyBytes: number;
  /** Largest text field, in bytes. */
  maxFieldBytes: number;
  /** Most parts accepted. */
  maxParts: number;
}

export interface MultipartSpec {
  /** Parts that must be files (`filename=` given); each at most once. */
  files: readonly string[];
  /** Parts that must be text; each at most once. */
  fields: readonly string[];
}

export interface MultipartForm {
  /** Non-empty text fields; an empty field (an untouched form input) counts as absent. */
  fields: Map<string, string>;
  files: Map<string, { filename: string; bytes: Uint8Array }>;
}

/** The request's content type, if it is multipart/form-data with a boundary. */
function boundaryOf(req: Request): string {
  const type = String(req.headers['content-type'] ?? '');
  const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(type);
  if (!boundary) {
    throw new ValidationError('content-type', 'multipart/form-data needs a boundary parameter');
  }
  return type;
}

/**
 * Reads the body, refusing it once it is longer than `limit`: what comes after that is read and
 * dropped (as express's own body parsers do), so the client, still sending, gets the 413 answer
 * instead of a reset connection.
 */
export function readBodyLimited(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  const tooLarge = (size: string) =>
    new TooLargeError('body', `request body is ${size} bytes; the limit is ${limit} bytes`);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = Number.isFinite(declared) && declared > limit;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      if (!over) chunks.push(chunk);
    });
    req.on('end', () => {
      if (over) reject(tooLarge(Number.isFinite(declared) ? String(declared) : `at least ${size}`));
      else resolve(Buffer.concat(chunks, size));
    });
    req.on('error', reject);
  });
}

/** Reads and parses a multipart/form-data request against `spec` and `limits`. */
export async function parseMultipart(
  req: Request,
  spec: MultipartSpec,
  limits: MultipartLimits,
): Promise<MultipartForm> {
  const contentType = boundaryOf(req);
  const body = await readBodyLimited(req, limits.maxBodyBytes);
  let parsed: FormData;
  try {
    parsed = await new Response(
      new Uint8Array(body.buffer, body.byteOffset, body.length) as unknown as BodyInit,
      { headers: { 'content-type': contentType } },
    ).formData();
  } catch (cause) {
    throw new ValidationError(
      'body',
      'malformed multipart/form-data body: every part needs Content-Disposition: form-data; name="…", and the body must end with the closing boundary',
      { cause },
    );
  }
  const form: MultipartForm = { fields: new Map(), files: new Map() };
  const seen = new Set<string>();
  let parts = 0;
  for (const [name, value] of parsed) {
    if (++parts > limits.maxParts) {
      throw new ValidationError('body', `more than ${limits.maxParts} parts in the multipart body`);
    }
    const isFile = typeof value !== 'string';
    if (!spec.files.includes(name) && !spec.fields.includes(name)) {
      throw new ValidationError(
        name,
        `unknown form field "${name}"; expected ${[...spec.files, ...spec.fields].join(', ')}`,
      );
    }
    if (seen.has(name)) throw new ValidationError(name, `form field "${name}" is given more than once`);
    seen.add(name);
    if (spec.files.includes(name)) {
      if (!isFile) {
        throw new ValidationError(name, `"${name}" must be a file part (Content-Disposition with filename=)`);
      }
      form.files.set(name, { filename: value.name, bytes: new Uint8Array(await value.arrayBuffer()) });
      continue;
    }
    if (isFile) throw new ValidationError(name, `"${name}" must be a text field, not a file`);
    if (Buffer.byteLength(value) > limits.maxFieldBytes) {
      throw new ValidationError(name, `form field "${name}" is longer than ${limits.maxFieldBytes} bytes`);
    }
    if (value.trim() !== '') form.fields.set(name, value.trim());
  }
  return form;
}
