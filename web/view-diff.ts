/**
 * What a live view sends: the changes between two renders of it, told from digests of what was
 * sent before (not the HTML itself), so that a page's rendered view can be remembered cheaply
 * until its stream opens and the stream sends only what changed since (web/live.ts).
 *
 * A view renders fragments: element id → inner HTML, or keyed rows for a table body. A row may
 * hold cells (a heartbeat time) that change far more often than the rest of it: a change of its
 * cells alone sends the cells, not the ~2 kB row.
 */
import { createHash } from 'node:crypto';

/** One table row: its element id, its HTML (with cellSlot markers) and the values of its cells. */
export type KeyedRow = [id: string, html: string, cells?: Record<string, string>];

/** Rows of a table keyed by their element id, so a change sends only the rows that changed. */
export interface KeyedRows {
  rows: KeyedRow[];
  /** What the table shows when it has no rows. */
  empty: string;
}

/** Element id → inner HTML to put there, or keyed rows for a table body. */
export type Fragments = Record<string, string | KeyedRows>;

/**
 * Where a row's cell goes in its HTML: inside an element with `data-cell="<name>"`, whose inner
 * HTML a `rows` event's `cells` replaces (an HTML comment, harmless where it is not filled).
 */
export const cellSlot = (name: string): string => `<!--cell:${name}-->`;
const CELL_SLOT = /<!--cell:([a-z0-9-]+)-->/g;

/** A row's whole HTML, its cells in place. */
export function rowHtml([, html, cells]: KeyedRow): string {
  return cells ? html.replace(CELL_SLOT, (_m, name: string) => cells[name] ?? '') : html;
}

const isKeyed = (v: string | KeyedRows): v is KeyedRows => typeof v !== 'string';

/** A fragment as plain HTML (a table's rows joined, or what it shows when empty). */
export function fragmentHtml(v: string | KeyedRows): string {
  return isKeyed(v) ? (v.rows.length ? v.rows.map(rowHtml).join('') : v.empty) : v;
}

interface RowDigest {
  /** Digest of the row without its cells. */
  html: string;
  cells?: Record<string, string>;
}
interface TableDigest {
  rows: Map<string, RowDigest>;
  order: string;
}
/** What a page holds of a view, as digests: element id → digest, or a table's rows. */
export type ViewDigest = Map<string, string | TableDigest>;

const hash = (s: string) => createHash('sha1').update(s).digest('base64');

export function digestOf(fragments: Fragments): ViewDigest {
  const digest: ViewDigest = new Map();
  for (const [id, value] of Object.entries(fragments)) {
    if (!isKeyed(value)) {
      digest.set(id, hash(value));
      continue;
    }
    digest.set(id, {
      rows: new Map(value.rows.map(([rowId, html, cells]) => [rowId, { html: hash(html), cells }])),
      order: value.rows.map((r) => r[0]).join('\n'),
    });
  }
  return digest;
}

export function sseEvent(event: string, data: unknown, id?: number | string): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The whole view: every fragment's HTML replaces its element's (a page whose state is unknown). */
export function wholeView(fragments: Fragments): string {
  return sseEvent(
    'swap',
    Object.fromEntries(Object.entries(fragments).map(([id, v]) => [id, fragmentHtml(v)])),
  );
}

const sameCells = (a?: Record<string, string>, b?: Record<string, string>) =>
  Object.keys(a ?? {}).length === Object.keys(b ?? {}).length &&
  Object.entries(a ?? {}).every(([k, v]) => b?.[k] === v);

/**
 * The events that take a page holding `before` to `fragments` (whose digest is `after`): `swap`
 * for the fragments whose HTML changed, a `rows` event per table with rows that changed, left or
 * moved, and the cells of rows whose cells alone changed. Empty when nothing changed.
 */
export function changes(before: ViewDigest, after: ViewDigest, fragments: Fragments): string {
  const swapped: Record<string, string> = {};
  const events: string[] = [];
  for (const [id, value] of Object.entries(fragments)) {
    const was = before.get(id);
    const now = after.get(id)!;
    if (!isKeyed(value) || typeof was !== 'object' || typeof now !== 'object') {
      // A fragment, or a table the page holds as plain HTML: sent whole when it changed.
      if (was !== now) swapped[id] = fragmentHtml(value);
      continue;
    }
    const upsert: Record<string, string> = {};
    const cells: Record<string, Record<string, string>> = {};
    for (const row of value.rows) {
      const [rowId] = row;
      const old = was.rows.get(rowId);
      const cur = now.rows.get(rowId)!;
      if (!old || old.html !== cur.html) upsert[rowId] = rowHtml(row);
      else if (!sameCells(old.cells, cur.cells) && cur.cells) cells[rowId] = cur.cells;
    }
    const remove = [...was.rows.keys()].filter((rowId) => !now.rows.has(rowId));
    const reordered = was.order !== now.order;
    if (Object.keys(upsert).length || Object.keys(cells).length || remove.length || reordered) {
      events.push(
        sseEvent('rows', {
          target: id,
          upsert,
          ...(Object.keys(cells).length ? { cells } : {}),
          remove,
          order: reordered ? value.rows.map((r) => r[0]) : undefined,
          empty: value.rows.length ? undefined : value.empty,
        }),
      );
    }
  }
  return (Object.keys(swapped).length ? sseEvent('swap', swapped) : '') + events.join('');
}
