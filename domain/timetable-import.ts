/**
 * One entry point for a timetable file of either format, expanded over a window that ends `windowDays` after `now`
 * (rules without an end stop there; api/lecture-window.ts moves the window on as time passes). Pure.
 */
import { parseIcs } from './ics-import';
import { LectureOccurrence, parseCsv, TimetableImport } from './timetable';

export type TimetableFormat = 'ics' | 'csv';

export interface TimetableFile {
  format: TimetableFormat;
  content: string;
  /** Campus zone: CSV times, iCalendar floating times and all-day events. */
  timezone: string;
}

export function importTimetable(
  file: TimetableFile,
  o: { now: Date; windowDays: number },
): TimetableImport & { expandedUntil: Date } {
  const expandedUntil = new Date(o.now.getTime() + o.windowDays * 86_400_000);
  const result =
    file.format === 'ics'
      ? parseIcs(file.content, { until: expandedUntil, campusZone: file.timezone })
      : parseCsv(file.content, file.timezone);
  return { ...result, expandedUntil };
}

export interface RoomSummary {
  room: string;
  lectures: number;
  first: Date;
  last: Date;
}

/** Lectures per room with the first and last, for a dry run's answer. */
export function roomSummaries(lectures: LectureOccurrence[]): RoomSummary[] {
  const rooms = new Map<string, RoomSummary>();
  for (const l of lectures) {
    const r = rooms.get(l.room);
    if (!r) rooms.set(l.room, { room: l.room, lectures: 1, first: l.startsAt, last: l.startsAt });
    else {
      r.lectures++;
      if (l.startsAt < r.first) r.first = l.startsAt;
      if (l.startsAt > r.last) r.last = l.startsAt;
    }
  }
  return [...rooms.values()].sort((a, b) => a.room.localeCompare(b.room));
}
