/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI prints loosely typed JSON from the API */
/** The CLI's plumbing: a REST client for /api/v1, tables and progress bars. */

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** The API's answer to a request that failed: its error `code` (AlreadyExists, NotFound…) kept. */
export class ApiError extends CliError {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    options: { contentType?: string; allow?: number[] } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload: BodyInit | undefined;
    if (body instanceof Uint8Array) {
      headers['content-type'] = options.contentType ?? 'application/octet-stream';
      payload = new Uint8Array(body) as unknown as BodyInit;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res: globalThis.Response;
    try {
      res = await fetch(`${this.baseUrl}/api/v1${path}`, { method, headers, body: payload });
    } catch (err) {
      throw new CliError(
        `cannot reach Wasmbed at ${this.baseUrl} (${(err as Error).cause ?? err}); is it running (wasmbed up)? Set WASMBED_URL to point elsewhere.`,
      );
    }
    const text = await res.text();
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (!res.ok && !(options.allow ?? []).includes(res.status)) {
      const e = parsed?.error;
      const field = e?.field ? ` (field: ${e.field})` : '';
      throw new ApiError(
        e ? `${e.code}: ${e.message}${field}` : `HTTP ${res.status}: ${text.slice(0, 200)}`,
        e?.code,
      );
    }
    return { status: res.status, body: parsed as T };
  }
}

/** A plain aligned table; cells are shown as text (never interpreted). */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function progressBar(done: number, total: number, width = 24): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`;
}

/**
 * Writes a status line: redrawn in place on a terminal, one line per change otherwise. Off a
 * terminal (CI logs, pipes) `plainEveryMs` keeps a fast-moving line to one line per interval;
 * `force` writes the line anyway (the final state).
 */
export class StatusLine {
  private last = '';
  private lastPlainAt = 0;
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 0,
  ) {}

  update(text: string, force = false): void {
    if (text === this.last) return;
    this.last = text;
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${text}`);
      return;
    }
    const now = Date.now();
    if (!force && now - this.lastPlainAt < this.plainEveryMs) return;
    this.lastPlainAt = now;
    this.stream.write(`${text}\n`);
  }

  done(): void {
    if (this.stream.isTTY && this.last) this.stream.write('\n');
    this.last = '';
  }
}

/** A request's query parameters, without the ones not given (undefined or empty). */
export function queryParams(params: Record<string, string | undefined>): URLSearchParams {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  return q;
}

/** Follows `metadata.continue` from page to page; returns every item (lists as kubectl does). */
export async function listAll<T = any>(
  api: ApiClient,
  path: string,
  params: Record<string, string | undefined> = {},
  pageSize = 500,
): Promise<T[]> {
  const items: T[] = [];
  let token: string | undefined;
  do {
    const q = queryParams(params);
    q.set('limit', String(pageSize));
    if (token) q.set('continue', token);
    const { body } = await api.request('GET', `${path}?${q}`);
    items.push(...body.items);
    token = body.metadata?.continue;
  } while (token);
  return items;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function age(iso: string | undefined): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/** `k=v,k2=v2` (or repeated flags) → {k: v, k2: v2} */
export function parseKeyValues(values: string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values ?? []) {
    for (const part of value.split(',')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      if (eq <= 0) throw new CliError(`${what}: "${part}" is not key=value`, 2);
      out[part.slice(0, eq)] = part.slice(eq + 1);
    }
  }
  return out;
}
