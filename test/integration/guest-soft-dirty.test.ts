// The go/no-go of the paper's kernel path on a stock kernel: in a guest PC (QEMU, TCG, Debian's cloud kernel with
// soft-dirty), a counter restored from a tracked checkpoint, with tracking restarted and the parent's dump time
// moved, is dumped differentially: the new image holds about the pages dirtied since the restore, not all of them.
import execa from 'execa';
import path from 'node:path';
import { REPO_ROOT } from '../../common/paths';

jest.setTimeout(600_000);

it('dumps a restored container differentially against the image it was restored from, and restores the chain', async () => {
  const run = await execa(
    'bash',
    [path.join(REPO_ROOT, 'infra/guest/run.sh'), path.join(REPO_ROOT, 'infra/guest/soft-dirty-check.sh'), '500'],
    { reject: false, all: true },
  );
  const out = run.all ?? '';
  const m =
    /full (\d+) pages, differential (\d+) pages, (\d+) ms after tracking restarted at (\d+) dirty pages\/s/.exec(out);
  if (run.exitCode !== 0 || !m)
    throw new Error(`the guest's check failed (exit ${run.exitCode}):\n${out.slice(-3000)}`);
  const [full, differential, ms, rate] = m.slice(1).map(Number) as [number, number, number, number];
  console.log(`guest: full dump ${full} pages, differential ${differential} pages, ${ms} ms at ${rate} pages/s`);
  // 64 MiB of counter memory: the first dump holds all of it.
  expect(full).toBeGreaterThan(16_000);
  // At most twice the pages the counter could dirty since tracking restarted (plus its stack and libc's pages):
  // a dump that fell back to "pid reuse" or huge pages would hold all 16,000.
  expect(differential).toBeLessThanOrEqual(2 * rate * (ms / 1000) + 64);
  expect(differential).toBeGreaterThan(0);
  expect(out).toMatch(/restored from the differential dump: running/);
  // The PC keeps transparent huge pages; the container has them off (zanshin-init), still after the restore.
  expect(out).toMatch(/the PC's transparent huge pages: \[always\]/);
  expect(out).toMatch(/restored counter's THP_enabled: 0/);
});
