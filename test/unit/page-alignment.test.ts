// Shifting a held pages file into the layout of a new image of the same process (issue 29): pages gained or lost
// between a live round and the final dump become a few inserted holes and collapsed ranges, never a copy of the rest.
import { createHash } from 'node:crypto';
import { alignPages, pagesLeftOut, shiftedContent, shiftedOrder } from '../../domain/page-alignment';

const digest = (name: string) => createHash('sha256').update(name).digest();
const list = (...names: string[]) => Buffer.concat(names.map(digest));
const seq = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

it('keeps pages in place where nothing moved, and a page written since stays a change, not a shift', () => {
  const held = list(...seq('p', 50));
  const changed = seq('p', 50);
  changed[10] = 'written';
  expect(alignPages(held, list(...changed))).toEqual({ shifts: [], inPlace: 49 });
});

it('finds pages a program gained (a hole inserted) and lost (a range collapsed)', () => {
  const before = seq('p', 100);
  // 3 pages new after p19; p60..p64 freed; one page written at p80.
  const after = [...before.slice(0, 20), 'n1', 'n2', 'n3', ...before.slice(20, 60), ...before.slice(65)];
  after[after.indexOf('p80')] = 'w80';
  const held = list(...before);
  const wanted = list(...after);
  const a = alignPages(held, wanted)!;
  expect(a.shifts).toEqual([
    { kind: 'insert', at: 20, pages: 3 },
    { kind: 'collapse', at: 63, pages: 5 },
  ]);
  expect(a.inPlace).toBe(94); // all but the 3 new pages and the written one
  // The file after the shifts holds every kept page where the new image wants it.
  const order = shiftedOrder(100, a.shifts);
  const { digests, known } = shiftedContent(held, new Uint8Array(100).fill(1), order, after.length);
  for (let p = 0; p < after.length; p++)
    if (!after[p]!.startsWith('n') && after[p] !== 'w80')
      expect(digests.subarray(p * 32, p * 32 + 32)).toEqual(digest(after[p]!));
  expect(Array.from(known.subarray(20, 23))).toEqual([0, 0, 0]); // the holes
  // What the shifts drop (the freed pages) is named, to be kept aside until the plan is done.
  expect(pagesLeftOut(new Uint8Array(100).fill(1), order, after.length)).toEqual([60, 61, 62, 63, 64]);
});

it('gives up where too many shifts would be needed (copying is as cheap then)', () => {
  const before = seq('p', 200);
  const after = before.flatMap((p, i) => (i % 10 === 0 ? [`n${i}`, `m${i}`, p] : [p]));
  expect(alignPages(list(...before), list(...after), 8)).toBeNull();
  expect(alignPages(list(...before), list(...after), 64)?.inPlace).toBe(200);
});
