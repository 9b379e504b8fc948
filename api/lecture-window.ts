/**
 * Moves the timetable's window on as time passes: an import whose recurring events go on past the window it was
 * expanded over is expanded again from its stored file, so a rule without an end keeps giving lectures.
 */
import type { Pool } from 'pg';
import { importTimetable } from '../domain/timetable-import';
import { importsToExtend, replaceImport } from '../state/lectures';
import { PERIODIC_LOCKS, startPeriodic } from './periodic';

const DAY_MS = 86_400_000;

/** Re-expands every import whose window ends less than a day before `now + windowDays`; returns what it did. */
export async function extendLectureWindows(
  db: Pool,
  { now, windowDays }: { now: Date; windowDays: number },
): Promise<{ name: string; lectures?: number; error?: string }[]> {
  const done: { name: string; lectures?: number; error?: string }[] = [];
  for (const record of await importsToExtend(db, new Date(now.getTime() + (windowDays - 1) * DAY_MS))) {
    try {
      const result = importTimetable({ ...record, content: record.source }, { now, windowDays });
      await replaceImport(
        db,
        {
          ...record,
          expandedUntil: result.expandedUntil,
          continuing: result.continuingPastWindow,
          skipped: result.skipped.length,
        },
        result.lectures,
      );
      done.push({ name: record.name, lectures: result.lectures.length });
    } catch (err) {
      // The file was accepted once: if it no longer is (a newer parser), the lectures already stored stay.
      done.push({ name: record.name, error: (err as Error).message });
    }
  }
  return done;
}

/** Runs `extendLectureWindows` now and then every `everyMs` (one instance at a time: api/periodic.ts); a stop. */
export function startLectureWindow(
  db: Pool,
  o: { windowDays: number; everyMs: number; log: (line: string) => void },
): () => void {
  return startPeriodic(db, {
    lock: PERIODIC_LOCKS.lectureWindow,
    everyMs: o.everyMs,
    what: 'expanding lecture imports',
    run: () => extendLectureWindows(db, { now: new Date(), windowDays: o.windowDays }),
    report: (done) =>
      done.forEach((d) =>
        o.log(
          d.error
            ? `lecture import ${d.name} could not be expanded further: ${d.error}`
            : `lecture import ${d.name} expanded ${o.windowDays} days ahead: ${d.lectures} lectures`,
        ),
      ),
    log: o.log,
  });
}
