// What a move reports of the program's stops: CRIU's own freeze figures, and every freeze of a move with their sum
// and the longest (issue 29).
import { frozenMsOf, parseDumpStats } from '../../domain/criu-stats';
import { freezesOf, moveDowntime } from '../../domain/freezes';

// A stats-dump CRIU 4.2.1 wrote for a small counter container on this machine (service magic, stats magic, length,
// entry).
const STATS_DUMP = Buffer.from(
  '4059105506330957280000000a2608fb970610e5a00c18e58f012087850128af20300038a02040004800500c580c600068007000',
  'hex',
);

it("reads CRIU's freeze figures from stats-dump", () => {
  const stats = parseDumpStats(STATS_DUMP);
  expect(stats).toEqual({
    freezingUs: 101371,
    frozenUs: 200805,
    memdumpUs: 18405,
    memwriteUs: 17031,
    pagesScanned: 4143,
    pagesWritten: 4128,
  });
  expect(frozenMsOf(stats)).toBe(302);
  expect(frozenMsOf(null)).toBeNull();
});

it('refuses what is not a stats image, naming why', () => {
  expect(() => parseDumpStats(Buffer.from('not a stats image at all'))).toThrow(/magic/);
  expect(() => parseDumpStats(STATS_DUMP.subarray(0, 20))).toThrow(/shorter/);
});

it('lists every freeze of a move, with their sum and the longest', () => {
  const round = (frozenMs: number) => ({ generation: 1, pages: 10, frozenMs, wireBytes: 1, transferMs: 1 });
  expect(freezesOf([round(2520), round(810)], 3030)).toEqual({
    freezes: [
      { kind: 'pre-copy 1', ms: 2520 },
      { kind: 'pre-copy 2', ms: 810 },
      { kind: 'move', ms: 3030 },
    ],
    frozenTotalMs: 6360,
    longestFreezeMs: 3030,
  });
  expect(freezesOf([], 400)).toEqual({
    freezes: [{ kind: 'move', ms: 400 }],
    frozenTotalMs: 400,
    longestFreezeMs: 400,
  });
});

describe("a move's downtime", () => {
  it('is what the PCs measured, from holding the traffic to letting it in', () => {
    expect(moveDowntime(2_600, 1_000_000, 1_002_150)).toBe(2_150);
  });
  it("falls back to the workflow's view without both figures, or when the clocks disagree", () => {
    expect(moveDowntime(2_600)).toBe(2_600);
    expect(moveDowntime(2_600, 1_000_000)).toBe(2_600);
    expect(moveDowntime(2_600, 1_000_000, 999_000)).toBe(2_600); // the target's clock behind the source's
    expect(moveDowntime(2_600, 1_000_000, 1_004_000)).toBe(2_600); // longer than the whole step sequence
  });
});
