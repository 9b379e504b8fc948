// Timetables shaped like what real calendar systems export (test/fixtures/timetables/), imported as a new user would.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseIcs, resolveTzid } from '../../domain/ics-import';
import { importTimetable } from '../../domain/timetable-import';
import type { LectureOccurrence } from '../../domain/timetable';
import { TimetableError } from '../../domain/timetable';

const fixture = (name: string) => readFileSync(path.join(__dirname, '..', 'fixtures', 'timetables', name), 'utf8');
const until = new Date('2027-06-01T00:00:00Z');
const starts = (ls: LectureOccurrence[], title?: RegExp) =>
  ls.filter((l) => !title || title.test(l.title)).map((l) => l.startsAt.toISOString());

describe('Google Calendar', () => {
  const r = parseIcs(fixture('google.ics'), { until, campusZone: 'America/New_York' });

  it('keeps a weekly lab at 09:00 local across the end of daylight saving, without its cancelled instance', () => {
    // 1 Nov 2026: EDT (UTC-4) -> EST (UTC-5). 3 Nov is cancelled (RECURRENCE-ID + STATUS:CANCELLED).
    expect(starts(r.lectures, /CS 101/)).toEqual([
      '2026-10-20T13:00:00.000Z',
      '2026-10-27T13:00:00.000Z',
      '2026-11-10T14:00:00.000Z',
    ]);
    expect(r.skipped).toEqual([]);
  });

  it('closes the room for the whole day of an all-day event, in the campus time zone', () => {
    const closed = r.lectures.find((l) => /closed/.test(l.title))!;
    expect([closed.room, closed.startsAt.toISOString(), closed.endsAt.toISOString()]).toEqual([
      'Gates B21',
      '2026-11-26T05:00:00.000Z',
      '2026-11-27T05:00:00.000Z',
    ]);
  });
});

describe('Outlook / Exchange', () => {
  const r = parseIcs(fixture('outlook.ics'), { until, campusZone: 'Europe/Berlin' });

  it('uses the VTIMEZONE the file defines under a Windows name, across the change to winter time', () => {
    // 25 Oct 2026: CEST (UTC+2) -> CET (UTC+1); UNTIL is inclusive.
    expect(starts(r.lectures, /Informatik/)).toEqual([
      '2026-10-13T08:15:00.000Z',
      '2026-10-20T08:15:00.000Z',
      '2026-10-27T09:15:00.000Z',
      '2026-11-03T09:15:00.000Z',
      '2026-11-10T09:15:00.000Z',
    ]);
  });

  it('resolves Windows zone names that no VTIMEZONE defines from the time-zone database', () => {
    // "Romance Standard Time" is Paris: 10:00 local on both sides of 25 Oct.
    expect(starts(r.lectures, /Séminaire/)).toEqual([
      '2026-10-19T08:00:00.000Z',
      '2026-10-26T09:00:00.000Z',
      '2026-11-02T09:00:00.000Z',
    ]);
    expect(starts(r.lectures, /Tokyo/)).toEqual(['2026-10-05T01:40:00.000Z']);
    expect(r.skipped).toEqual([]);
  });
});

describe('Zimbra', () => {
  it('ignores the empty second VTIMEZONE (reported with its line) and imports the rest', () => {
    // Before: the whole import failed with "Neither a timezone nor a name was passed".
    const r = parseIcs(fixture('zimbra.ics'), { until, campusZone: 'UTC' });
    expect(r.skipped).toEqual([{ component: 'VTIMEZONE', line: 16, reason: 'has no TZID: ignored' }]);
    // TZID="Asia/Tokyo" (quoted) from the file's VTIMEZONE: 10:40 JST on four Mondays.
    expect(starts(r.lectures)).toEqual([
      '2026-10-05T01:40:00.000Z',
      '2026-10-12T01:40:00.000Z',
      '2026-10-19T01:40:00.000Z',
      '2026-10-26T01:40:00.000Z',
    ]);
  });
});

describe('Apple Calendar', () => {
  const now = new Date('2026-10-01T00:00:00Z');
  const r = importTimetable(
    { format: 'ics', content: fixture('apple.ics'), timezone: 'Asia/Tokyo' },
    { now, windowDays: 140 },
  );

  it('expands a rule without an end over the window only, and says it goes on', () => {
    expect(r.expandedUntil.toISOString()).toBe('2027-02-18T00:00:00.000Z');
    const seminar = starts(r.lectures, /seminar/);
    expect(seminar).toHaveLength(10); // every other Wednesday, 7 Oct 2026 .. 10 Feb 2027
    expect(seminar[0]).toBe('2026-10-07T06:00:00.000Z');
    expect(seminar[9]).toBe('2027-02-10T06:00:00.000Z');
    expect(r.continuingPastWindow).toBe(1);
    // Later, the window has moved on: the same file gives the lectures up to its new end.
    const later = importTimetable(
      { format: 'ics', content: fixture('apple.ics'), timezone: 'Asia/Tokyo' },
      { now: new Date('2027-01-01T00:00:00Z'), windowDays: 140 },
    );
    expect(starts(later.lectures, /seminar/).at(-1)).toBe('2027-05-19T06:00:00.000Z');
  });

  it('takes floating times in the campus time zone', () => {
    expect(starts(r.lectures, /Office hours/)).toEqual(['2026-10-09T00:00:00.000Z']);
  });
});

describe('university timetabling export', () => {
  const r = parseIcs(fixture('university-export.ics'), { until, campusZone: 'Asia/Tokyo' });

  it('reads DURATION instead of DTEND, and RDATEs given as periods, date-times and dates', () => {
    const lecture = r.lectures.filter((l) => /lecture/.test(l.title));
    expect(lecture.map((l) => [l.startsAt.toISOString(), l.endsAt.toISOString()])).toEqual([
      ['2026-10-06T01:40:00.000Z', '2026-10-06T03:10:00.000Z'],
      ['2026-10-13T01:40:00.000Z', '2026-10-13T03:10:00.000Z'],
      ['2026-10-20T01:40:00.000Z', '2026-10-20T03:10:00.000Z'],
      ['2026-10-27T01:40:00.000Z', '2026-10-27T03:10:00.000Z'],
      // RDATE;VALUE=PERIOD (before: "next.toJSDate is not a function"): its own start and end.
      ['2026-11-25T09:00:00.000Z', '2026-11-25T12:30:00.000Z'],
    ]);
    expect(starts(r.lectures, /tutorial/)).toEqual([
      '2026-10-07T05:00:00.000Z',
      '2026-10-21T05:00:00.000Z',
      '2026-11-04T05:00:00.000Z',
    ]);
    const closed = r.lectures.filter((l) => /closed/.test(l.title));
    expect(closed.map((l) => [l.startsAt.toISOString(), l.endsAt.toISOString()])).toEqual([
      ['2026-11-02T15:00:00.000Z', '2026-11-03T15:00:00.000Z'],
      ['2026-11-22T15:00:00.000Z', '2026-11-23T15:00:00.000Z'],
      ['2026-11-23T15:00:00.000Z', '2026-11-24T15:00:00.000Z'],
    ]);
  });

  it('takes an IANA TZID without VTIMEZONE from the time-zone database, not as UTC', () => {
    // Before: stored as 10:40 UTC, nine hours off.
    expect(starts(r.lectures, /Programming Lab/)).toEqual(['2026-10-05T01:40:00.000Z']);
  });

  it('reports what it cannot use with UID, SUMMARY, line and reason, and imports the rest', () => {
    expect(r.skipped).toEqual([
      {
        component: 'VEVENT',
        line: 42,
        uid: '2026A-SEM900-1@timetable.example.ac.jp',
        summary: 'Research seminar (room to be announced)',
        reason: 'has no LOCATION: the room decides which PCs it takes',
      },
      {
        component: 'VEVENT',
        line: 49,
        uid: '2026A-MARS-1@timetable.example.ac.jp',
        summary: 'Guest lecture',
        reason: expect.stringMatching(/time zone "Mars\/Olympus_Mons" is neither defined in the file/) as string,
      },
    ]);
    expect(r.lectures).toHaveLength(12);
  });
});

describe('files that are not iCalendar', () => {
  const opts = { until, campusZone: 'UTC' };
  it('names the first line that is wrong', () => {
    expect(() => parseIcs('hello\nworld\n', opts)).toThrow(
      new TimetableError('line 1: an iCalendar file starts with BEGIN:VCALENDAR, found "hello"'),
    );
    const broken = fixture('zimbra.ics').replace('SUMMARY:情報処理演習 II', 'this line is not a property');
    expect(() => parseIcs(broken, opts)).toThrow(/^line 21: "this line is not a property" is not an iCalendar line/);
    const truncated = fixture('zimbra.ics').split('END:VEVENT')[0]!;
    expect(() => parseIcs(truncated, opts)).toThrow(/ends inside BEGIN:VEVENT/);
    expect(() => parseIcs('BEGIN:VCALENDAR\nEND:VEVENT\n', opts)).toThrow(/line 2: END:VEVENT closes BEGIN:VCALENDAR/);
  });
});

describe('time zone names', () => {
  it('resolves IANA names, Windows names and path-prefixed names; nothing else', () => {
    expect(resolveTzid('Asia/Tokyo')).toBe('Asia/Tokyo');
    expect(resolveTzid('Tokyo Standard Time')).toBe('Asia/Tokyo');
    expect(resolveTzid('"Eastern Standard Time"')).toBe('America/New_York');
    expect(resolveTzid('/mozilla.org/20070129_1/Europe/Berlin')).toBe('Europe/Berlin');
    expect(resolveTzid('Mars/Olympus_Mons')).toBeNull();
  });
});

describe('a term-long university timetable', () => {
  it('imports every weekly lecture of 32 courses over the term, without the holidays, with the moved ones moved', () => {
    const r = importTimetable(
      { format: 'ics', content: fixture('term-2026-autumn.ics'), timezone: 'Asia/Tokyo' },
      { now: new Date('2026-09-20T00:00:00Z'), windowDays: 140 },
    );
    // 32 courses x 17-18 weekdays from 1 Oct 2026 to 29 Jan 2027, less 2 holidays and the winter break (28 Dec-5 Jan).
    expect([r.lectures.length, r.skipped, r.continuingPastWindow]).toEqual([496, [], 0]);
    expect(new Set(r.lectures.map((l) => l.room)).size).toBe(8);
    const moved = r.lectures.filter((l) => /\(moved\)/.test(l.title));
    expect(moved).toHaveLength(4);
    // Saturdays, in Tokyo.
    for (const l of moved) expect(new Date(l.startsAt.getTime() + 9 * 3_600_000).getUTCDay()).toBe(6);
    const holidays = ['2026-11-03', '2026-11-23', '2026-12-28', '2027-01-04'];
    const tokyoDay = (d: Date) => new Date(d.getTime() + 9 * 3_600_000).toISOString().slice(0, 10);
    expect(r.lectures.filter((l) => holidays.includes(tokyoDay(l.startsAt)))).toEqual([]);
  });
});
