// The control plane under a campus's load (issue 30), small enough for every CI run: synthetic PCs reporting through
// two migration-api processes on one PostgreSQL, long-polling their task queues, placement asked meanwhile, a
// rebalancing run over the campus, a term of history pruned. The 1,000-PC figures come from bench/control-plane.ts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { migrate } from '../../api/db';
import { extendLectureWindows } from '../../api/lecture-window';
import { PERIODIC_LOCKS } from '../../api/periodic';
import { DEFAULT_LECTURE_WINDOW_DAYS } from '../../common/names';
import { importTimetable } from '../../domain/timetable-import';
import { runControlPlaneLoad } from '../../infra/load/control-plane-load';
import { findContainer, insertContainer, nextEpoch, recordRestart } from '../../state/containers';
import { createPool, ifFirst } from '../../state/db';
import { replaceImport } from '../../state/lectures';
import { startTestPostgres } from '../helpers/postgres';

jest.setTimeout(180_000);

it('answers 300 PCs reporting every 2 s through two API processes, with placement, a rebalancing run and pruning', async () => {
  const lines: string[] = [];
  const r = await runControlPlaneLoad({
    pcs: 300,
    containersPerPc: 1,
    apiInstances: 2,
    reportIntervalMs: 2_000,
    measureMs: 15_000,
    pollers: true,
    historyWeeks: 4,
    historyDays: 7,
    seed: 3,
    log: (line) => lines.push(line),
  });
  console.log(`${lines.join('\n')}\n${JSON.stringify(r, null, 1)}`);
  // Every report answered, by both instances (PCs are spread over them); ~150 a second were sent.
  expect(r.reports.errors).toBe(0);
  expect(r.reports.count).toBeGreaterThan(300 * 5);
  expect(r.reportsPerApi).toHaveLength(2);
  for (const n of r.reportsPerApi) expect(n).toBeGreaterThan(300);
  expect(r.placement.errors).toBe(0);
  expect(r.placement.count).toBeGreaterThan(5);
  expect(r.pollers).toEqual({ queues: 300, errors: 0 });
  // The run weighed the containers of the busy PCs (one in ten; and any in or near a lecture) and moved its cap.
  expect(r.rebalance.entries).toBeGreaterThanOrEqual(30);
  expect(r.rebalance.moves).toBe(3);
  // Four weeks of moves written, pruned to the last seven days: the rest gone, the table smaller.
  expect(r.history.migrations).toBe(4 * Math.round(0.9 * 300));
  expect(r.history.pruned.migrations).toBeGreaterThan(r.history.migrations * 0.6);
  expect(r.history.pruned.migrations).toBeLessThan(r.history.migrations);
  expect(r.history.bytesAfter.migrations).toBeLessThan(r.history.bytesBefore.migrations!);
});

it('expands a timetable once when two API instances look at the same moment', async () => {
  const pg = await startTestPostgres();
  const instances = [createPool(pg.url, 4, () => undefined), createPool(pg.url, 4, () => undefined)];
  try {
    await migrate(instances[0]!);
    const apple = readFileSync(path.join(__dirname, '..', 'fixtures', 'timetables', 'apple.ics'), 'utf8');
    const file = { format: 'ics' as const, content: apple, timezone: 'Asia/Tokyo' };
    const first = importTimetable(file, { now: new Date(), windowDays: DEFAULT_LECTURE_WINDOW_DAYS });
    await replaceImport(
      instances[0]!,
      {
        name: 'seminars',
        format: 'ics',
        source: apple,
        timezone: 'Asia/Tokyo',
        expandedUntil: first.expandedUntil,
        continuing: first.continuingPastWindow,
        skipped: first.skipped.length,
      },
      first.lectures,
    );
    const later = new Date(Date.now() + 60 * 86_400_000);
    const runs = await Promise.all(
      instances.map((db) =>
        ifFirst(db, PERIODIC_LOCKS.lectureWindow, () =>
          extendLectureWindows(db, { now: later, windowDays: DEFAULT_LECTURE_WINDOW_DAYS }),
        ),
      ),
    );
    // One instance expanded it; the other skipped the round (null) or found nothing left to do.
    expect(runs.flatMap((r) => r ?? []).map((d) => d.name)).toEqual(['seminars']);
  } finally {
    await Promise.all(instances.map((db) => db.end()));
    await pg.stop();
  }
});

it('loses no update when two API instances change one container at the same moment', async () => {
  const pg = await startTestPostgres();
  const instances = [createPool(pg.url, 4, () => undefined), createPool(pg.url, 4, () => undefined)];
  try {
    await migrate(instances[0]!);
    const c = { id: 'c1', args: ['/bin/app'], env: [], memoryMiB: 16, diskMiB: 64, cpus: 1, pids: 64, user: null };
    const before = (await insertContainer(instances[0]!, { ...c, rootfs: { dir: '/srv/c1' } }, null))!;
    // Each instance: 20 recoveries (a new epoch each) and 20 restarts (a read, then a write of the count) at once.
    await Promise.all(
      instances.flatMap((db) =>
        Array.from({ length: 40 }, (_, k) => (k % 2 ? nextEpoch(db, 'c1') : recordRestart(db, 'c1', 'pc1'))),
      ),
    );
    const after = (await findContainer(instances[1]!, 'c1'))!;
    expect(after.epoch).toBe(before.epoch + 40);
    expect(after.restartCount).toBe(40); // each read-then-write under the row's lock: none overwritten
  } finally {
    await Promise.all(instances.map((db) => db.end()));
    await pg.stop();
  }
});
