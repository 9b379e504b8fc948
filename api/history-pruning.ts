// Finished history is kept for a while (ZANSHIN_HISTORY_DAYS), then removed: a campus's tables stay bounded.
import type { Pool } from 'pg';
import { pruneHistory } from '../state/migrations';
import { PERIODIC_LOCKS, startPeriodic } from './periodic';

const DAY_MS = 86_400_000;

/** Prunes history older than `historyDays` now and every `everyMs` (one instance at a time); returns a stop. */
export function startHistoryPruning(
  db: Pool,
  o: { historyDays: number; everyMs: number; log: (line: string) => void },
): () => void {
  return startPeriodic(db, {
    lock: PERIODIC_LOCKS.historyPruning,
    everyMs: o.everyMs,
    what: 'pruning history',
    run: () => pruneHistory(db, new Date(Date.now() - o.historyDays * DAY_MS)),
    report: (r) => {
      if (r.migrations + r.lectureConflicts + r.lectures)
        o.log(
          `history older than ${o.historyDays} days removed: ${r.migrations} migrations, ` +
            `${r.lectureConflicts} lecture conflicts, ${r.lectures} lectures`,
        );
    },
    log: o.log,
  });
}
