/**
 * The lecture timetable: registered by the administrator about twice a year, as iCalendar (what university systems
 * export: domain/ics-import.ts) or CSV (here). Both are expanded into concrete occurrences (room, start, end),
 * exceptions applied, so "when is this PC next needed" is a lookup. Pure apart from parsing libraries.
 */
import { parse as parseCsvText } from 'csv-parse/sync';
import { DateTime } from 'luxon';

export interface LectureOccurrence {
  room: string;
  title: string;
  startsAt: Date;
  endsAt: Date;
}

export class TimetableError extends Error {
  override name = 'TimetableError';
}

/** A part of an imported file that gave no lectures, and why. */
export interface SkippedComponent {
  /** VEVENT, VTIMEZONE, CSV row, ... */
  component: string;
  /** Line of the component (its BEGIN) in the file, 1-based. */
  line: number;
  uid?: string;
  summary?: string;
  reason: string;
}

/** What an import yields: the lectures, and everything left out with its reason. */
export interface TimetableImport {
  lectures: LectureOccurrence[];
  skipped: SkippedComponent[];
  /** Recurring events that go on past the window: a later expansion (as time passes) adds their lectures. */
  continuingPastWindow: number;
}

const WEEKDAYS: Record<string, number> = { mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6, sun: 7 };

/**
 * CSV with a header: room, weekday (Mon..Sun or 1..7), start, end (HH:MM, local time), term_start, term_end
 * (YYYY-MM-DD), and optionally title and exceptions (dates without a lecture, separated by ';').
 */
/** A zone luxon can place times in: an IANA name, or a fixed offset such as UTC+9. */
export function isKnownZone(zone: string): boolean {
  return DateTime.local().setZone(zone).isValid;
}

export function parseCsv(text: string, timezone: string): TimetableImport {
  if (!isKnownZone(timezone)) throw new TimetableError(`unknown time zone ${JSON.stringify(timezone)}`);
  let rows: Record<string, string>[];
  try {
    rows = parseCsvText<Record<string, string>>(text, {
      columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()),
      skip_empty_lines: true,
      trim: true,
    });
  } catch (err) {
    throw new TimetableError(`not valid CSV: ${(err as Error).message}`);
  }
  const out: LectureOccurrence[] = [];
  const skipped: SkippedComponent[] = [];
  rows.forEach((row, i) => {
    const line = i + 2; // the header is line 1
    try {
      out.push(...csvRow(row, line, timezone));
    } catch (err) {
      if (!(err instanceof TimetableError)) throw err;
      skipped.push({ component: 'CSV row', line, ...(row.title ? { summary: row.title } : {}), reason: err.message });
    }
  });
  out.sort((a, b) => a.startsAt.getTime() - b.startsAt.getTime());
  return { lectures: out, skipped, continuingPastWindow: 0 };
}

/** One CSV row's weekly lectures over its term. */
function csvRow(row: Record<string, string>, line: number, timezone: string): LectureOccurrence[] {
  const out: LectureOccurrence[] = [];
  const need = (col: string): string => {
    const v = row[col];
    if (v === undefined || v === '') throw new TimetableError(`line ${line}: column "${col}" is missing or empty`);
    return v;
  };
  const room = need('room');
  const wd = need('weekday').toLowerCase();
  const weekday = /^[1-7]$/.test(wd) ? Number(wd) : WEEKDAYS[wd.slice(0, 3)];
  if (!weekday) throw new TimetableError(`line ${line}: weekday "${row.weekday}" is not Mon..Sun or 1..7`);
  const time = (col: string): { hour: number; minute: number } => {
    const m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(need(col));
    if (!m) throw new TimetableError(`line ${line}: ${col} "${row[col]}" is not a time HH:MM`);
    return { hour: Number(m[1]), minute: Number(m[2]) };
  };
  const date = (col: string, value = need(col)): DateTime => {
    const d = DateTime.fromISO(value, { zone: timezone });
    if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || !d.isValid)
      throw new TimetableError(`line ${line}: ${col} "${value}" is not a date YYYY-MM-DD`);
    return d;
  };
  const start = time('start'),
    end = time('end');
  if (end.hour * 60 + end.minute <= start.hour * 60 + start.minute)
    throw new TimetableError(`line ${line}: end ${row.end} is not after start ${row.start}`);
  const termStart = date('term_start'),
    termEnd = date('term_end');
  if (termEnd < termStart)
    throw new TimetableError(`line ${line}: term_end ${row.term_end} is before term_start ${row.term_start}`);
  const skip = new Set(
    (row.exceptions ?? '')
      .split(/[;\s]+/)
      .filter(Boolean)
      .map((v) => date('exceptions', v).toISODate()),
  );
  let day = termStart.plus({ days: (weekday - termStart.weekday + 7) % 7 });
  for (; day <= termEnd; day = day.plus({ weeks: 1 })) {
    if (skip.has(day.toISODate())) continue;
    out.push({
      room,
      title: row.title ?? '',
      startsAt: day.set({ ...start, second: 0 }).toJSDate(),
      endsAt: day.set({ ...end, second: 0 }).toJSDate(),
    });
  }
  return out;
}

export interface NodeNeed {
  /** End of the lecture the PC is in now, if any. */
  inLectureUntil: Date | null;
  /** Start of the next lecture after now, if any. */
  nextLectureAt: Date | null;
}

/** When the PC (through its rooms' lectures) is in use now, and when it is next needed. */
export function nodeNeed(lectures: Pick<LectureOccurrence, 'startsAt' | 'endsAt'>[], now: Date): NodeNeed {
  let inLectureUntil: Date | null = null;
  let nextLectureAt: Date | null = null;
  for (const l of lectures) {
    if (l.startsAt <= now && l.endsAt > now && (!inLectureUntil || l.endsAt > inLectureUntil))
      inLectureUntil = l.endsAt;
    if (l.startsAt > now && (!nextLectureAt || l.startsAt < nextLectureAt)) nextLectureAt = l.startsAt;
  }
  return { inLectureUntil, nextLectureAt };
}
