import type { BenchResults, MethodResult } from '../../bench/measure';
import { goalMedians, goalTable, median } from '../../bench/medians';

const method = (downtimeMs: number, extra: Partial<MethodResult> = {}): MethodResult => ({
  downtimeMs,
  totalMs: downtimeMs * 2,
  wireBytes: 1,
  steps: {},
  ...extra,
});

/** One run at 64 MiB: a first move, a return move (its dump and runc restore), a stop-and-copy. */
const run = (first: number, back: number, dump: number, restore: number, stop: number, preCopyFrozen = 0) =>
  ({
    sizes: [
      {
        sizeMiB: 64,
        workload: 'random',
        dirtyPagesPerSecond: 110,
        linkRate: '1gbit',
        methods: {
          'zanshin first move': method(first, { frozenInPreCopyMs: preCopyFrozen }),
          'zanshin return move': method(back, { steps: { 'dump (final)': dump, 'runc restore': restore } }),
          'stop-and-copy (runc + rsync)': method(stop),
        },
      },
    ],
    nodeWorkerPeakRssMiB: {},
    evacuation: null,
  }) satisfies BenchResults;

describe('bench medians (issue 29 goals)', () => {
  it('takes the median of an odd and an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/no values/);
  });

  it('computes each ratio within its run, then the median over runs', () => {
    // Run 2 is slow all round: its ratio is like the others', its absolute figures are not.
    const [row] = goalMedians([
      run(1000, 900, 300, 200, 10_000),
      run(4000, 2000, 600, 400, 40_000, 400),
      run(1500, 1000, 400, 300, 10_000),
    ]);
    expect(row).toMatchObject({ sizeMiB: 64, runs: 3, firstMs: 1500, stopAndCopyMs: 10_000, returnMs: 1000 });
    expect(row!.firstOverStopAndCopy).toBeCloseTo(0.1); // 0.1, 0.1, 0.15
    expect(row!.freezesOverFinal).toBeCloseTo(1); // 1, 1.1, 1
    expect(row!.returnOverheadMs).toBe(400); // 400, 1000, 300
    expect(goalTable([row!])).toContain('| 64 | 1.50 s | 10.00 s | 0.10 |');
  });

  it('names the size whose return move lacks the steps it needs', () => {
    const old = run(1, 1, 1, 1, 1);
    old.sizes[0]!.methods['zanshin return move'].steps = {};
    expect(() => goalMedians([old])).toThrow(/64 MiB: the return move's steps lack/);
  });
});
