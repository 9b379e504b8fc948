// Periodic work of migration-api (timetable windows, history pruning). Several instances may share one database:
// each run takes a PostgreSQL advisory lock, so that one instance does it and the others skip that round.
import type { Pool } from 'pg';
import { ifFirst } from '../state/db';

/** Advisory lock keys, one per kind of periodic work (any fixed numbers no other lock uses). */
export const PERIODIC_LOCKS = { lectureWindow: 0x7a616e01, historyPruning: 0x7a616e02 } as const;

/**
 * Runs `run` now and then every `everyMs` (never keeping the process alive) where this instance gets `lock`; its
 * result goes to `report`, a failure to `log`. Returns a stop.
 */
export function startPeriodic<T>(
  db: Pool,
  o: {
    lock: number;
    everyMs: number;
    run: () => Promise<T>;
    report: (result: T) => void;
    log: (line: string) => void;
    what: string;
  },
): () => void {
  const once = () =>
    ifFirst(db, o.lock, o.run).then(
      (result) => {
        if (result !== null) o.report(result);
      },
      (err: unknown) => o.log(`${o.what} failed: ${(err as Error).message}`),
    );
  void once();
  const timer = setInterval(() => void once(), o.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
