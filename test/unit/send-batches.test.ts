import { adjacentRuns, runBatches } from '../../node/dataplane/client';

/** Where chunk k of a send lies: pages 0-9 side by side in one file, then every other page (a move back's shape). */
const locate = (k: number) => ({ file: '/img/pages-1.img', offset: (k < 10 ? k : 10 + 2 * k) * 4096, length: 4096 });

describe('a send reads scattered pages in batches', () => {
  it('joins side-by-side chunks into one run and leaves scattered ones apart', () => {
    const runs = [...adjacentRuns(0, 13, locate)];
    expect(runs.map((r) => [r.first, r.lengths.length])).toEqual([
      [0, 10],
      [10, 1],
      [11, 1],
      [12, 1],
    ]);
  });

  it('batches runs in order, each chunk once, a batch closed at 512 KiB or 256 runs', () => {
    const runs = [...adjacentRuns(0, 2000, locate)];
    const batches = [...runBatches(runs)];
    expect(batches.flat()).toEqual(runs);
    // Single pages of 4 KiB: 128 of them reach 512 KiB first.
    for (const b of batches.slice(0, -1)) {
      const bytes = b.reduce((n, r) => n + r.bytes, 0);
      expect(bytes >= 512 << 10 || b.length === 256).toBe(true);
      expect(bytes - b[b.length - 1]!.bytes).toBeLessThan(512 << 10);
    }
    expect(batches.length).toBeLessThan(runs.length / 100);
  });
});
