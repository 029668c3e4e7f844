/**
 * The changes a live view sends (web/view-diff.ts), told from digests of what the page holds: a
 * row whose cells alone changed sends its cells, a changed row its whole HTML (cells in place), a
 * row that left or moved its removal or the new order, an emptied table its empty text, and a
 * fragment only when its HTML changed.
 */
import { describe, expect, it } from 'vitest';
import { cellSlot, changes, digestOf, fragmentHtml, type Fragments } from '../web/view-diff.js';

const row = (id: string, phase: string, seen: string): [string, string, Record<string, string>] => [
  id,
  `<tr id="${id}" data-phase="${phase}"><td data-cell="seen">${cellSlot('seen')}</td></tr>`,
  { seen },
];
const view = (rows: ReturnType<typeof row>[], pager = '1–2 of 2'): Fragments => ({
  devices: { rows, empty: '<tr><td>none</td></tr>' },
  pager,
});

/** The events of a change, parsed. */
function events(before: Fragments, after: Fragments) {
  const text = changes(digestOf(before), digestOf(after), after);
  return [...text.matchAll(/^event: (.*)\ndata: (.*)$/gm)].map((m) => ({
    event: m[1]!,
    data: JSON.parse(m[2]!),
  }));
}

describe('changes of a live view', () => {
  const a = row('device-a', 'Connected', 't1');
  const b = row('device-b', 'Connected', 't1');

  it('sends nothing when nothing changed', () => {
    expect(events(view([a, b]), view([a, b]))).toEqual([]);
  });

  it("sends a heartbeat as the row's cell, not the row", () => {
    const [e] = events(view([a, b]), view([a, row('device-b', 'Connected', 't2')]));
    expect(e).toEqual({
      event: 'rows',
      data: { target: 'devices', upsert: {}, cells: { 'device-b': { seen: 't2' } }, remove: [] },
    });
  });

  it('sends a changed row whole, its cells in place', () => {
    const [e] = events(view([a, b]), view([a, row('device-b', 'Failed', 't2')]));
    expect(e!.data.upsert).toEqual({
      'device-b': '<tr id="device-b" data-phase="Failed"><td data-cell="seen">t2</td></tr>',
    });
    expect(e!.data.cells).toBeUndefined();
  });

  it('sends rows that left, a new order, and the empty text of an emptied table', () => {
    expect(events(view([a, b]), view([b, a]))[0]!.data.order).toEqual(['device-b', 'device-a']);
    const [e] = events(view([a, b]), view([]));
    expect(e!.data).toMatchObject({ remove: ['device-a', 'device-b'], empty: '<tr><td>none</td></tr>' });
  });

  it('sends a fragment only when its HTML changed', () => {
    const [e] = events(view([a]), view([a], '1–1 of 1'));
    expect(e).toEqual({ event: 'swap', data: { pager: '1–1 of 1' } });
  });

  it('puts cells in place in the HTML a page is rendered with', () => {
    expect(fragmentHtml(view([a]).devices!)).toBe(
      '<tr id="device-a" data-phase="Connected"><td data-cell="seen">t1</td></tr>',
    );
  });
});
