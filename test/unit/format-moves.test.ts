// The move report a user reads: the final dump's figures come from the final checkpoint's transfer, not from the
// first pre-copy round's (found by hand: a return's final dump showed the 68 MB of its first round).
import { formatMoves } from '../../cli/format';
import type { MoveReport } from '../../domain/reports';

const transfer = (kind: 'bundle' | 'checkpoint', wireBytes: number, missingChunks: number) =>
  ({ kind, wireBytes, missingChunks, ms: 1, manifest: {} }) as unknown as MoveReport['transfers'][number];

const move = {
  containerId: 'c1',
  from: 'vm2',
  to: 'vm1',
  generation: 7,
  strategy: 'kernel',
  downtimeMs: 1_000,
  preCopy: [{ generation: 5, pages: 260, frozenMs: 12, wireBytes: 68_370_000, transferMs: 1 }],
  wireBytes: 70_000_000,
  fullBytes: 70_770_000,
  targetHadRemnant: true,
  steps: [],
  transfers: [
    transfer('checkpoint', 68_370_000, 16_414),
    transfer('bundle', 1_000, 1),
    transfer('checkpoint', 470_000, 92),
  ],
  checkpoint: { pages: 92, dumpMs: 30, frozenMs: 25, hashMs: 2, image: { chunks: 99 } },
  restore: { writeImageMs: 1, restoreMs: 20 },
} as unknown as MoveReport;

it("shows the final dump's own transfer: what it sent and how many of its image's chunks the target lacked", () => {
  const text = formatMoves([move]);
  expect(text).toMatch(/│ final dump\s*│ 92\s*│ 25 ms\s*│ 0\.47 MB\s*│/);
  expect(text).toMatch(/│ pre-copy 1\s*│ 260\s*│ 12 ms\s*│ 68\.37 MB\s*│/);
  expect(text).toMatch(/│ 92 of 99\s*│/);
});
