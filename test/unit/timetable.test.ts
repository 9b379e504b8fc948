import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseIcs } from '../../domain/ics-import';
import { nodeNeed, parseCsv } from '../../domain/timetable';

const ics = readFileSync(path.join(__dirname, '..', 'fixtures', 'timetable-fall-2026.ics'), 'utf8');
const horizon = new Date('2027-12-31T00:00:00Z');
const iso = (d: Date) => d.toISOString();

describe('iCalendar import', () => {
  const { lectures, skipped } = parseIcs(ics, { until: horizon, campusZone: 'Asia/Tokyo' });
  const lab = lectures.filter((l) => l.room === 'R595');

  it("expands a weekly rule until its UNTIL, in the calendar's time zone", () => {
    // Mondays 5 Oct 2026 .. 25 Jan 2027 = 17 Mondays, 3 excluded (EXDATE), 1 moved (still one lecture).
    expect(lab).toHaveLength(14);
    expect(iso(lab[0]!.startsAt)).toBe('2026-10-05T01:40:00.000Z'); // 10:40 JST
    expect(iso(lab[0]!.endsAt)).toBe('2026-10-05T03:10:00.000Z');
    expect(iso(lab[lab.length - 1]!.startsAt)).toBe('2027-01-25T01:40:00.000Z');
  });

  it('drops the EXDATE holidays and moves the RECURRENCE-ID instance', () => {
    const starts = lab.map((l) => iso(l.startsAt));
    for (const holiday of [
      '2026-11-23T01:40:00.000Z',
      '2026-12-28T01:40:00.000Z',
      '2027-01-04T01:40:00.000Z',
      '2026-11-30T01:40:00.000Z',
    ]) {
      expect(starts).not.toContain(holiday);
    }
    const moved = lab.find((l) => iso(l.startsAt) === '2026-12-01T05:40:00.000Z');
    expect(moved?.title).toMatch(/補講日変更/);
  });

  it('expands COUNT rules and keeps rooms apart', () => {
    const net = lectures.filter((l) => l.room === 'R364');
    expect(net).toHaveLength(15);
    expect(iso(net[0]!.startsAt)).toBe('2026-10-08T04:00:00.000Z');
  });

  it('imports the whole file', () => {
    expect(skipped).toEqual([]);
    expect(lectures).toHaveLength(29);
  });

  it('skips an event without a room and refuses a file that expands beyond its limit', () => {
    const o = { until: horizon, campusZone: 'Asia/Tokyo' };
    const noRoom = parseIcs(ics.replace('LOCATION:R364\n', ''), o);
    expect(noRoom.skipped).toMatchObject([{ line: 37, uid: '2026F-NET310-1@timetable.example.ac.jp' }]);
    expect(noRoom.lectures).toHaveLength(14);
    const daily = ics.replace('RRULE:FREQ=WEEKLY;COUNT=15;BYDAY=TH', 'RRULE:FREQ=DAILY');
    expect(() => parseIcs(daily, { ...o, until: new Date('2100-01-01'), maxOccurrences: 500 })).toThrow(
      /more than 500 lectures by 2100-01-01/,
    );
  });
});

describe('CSV import', () => {
  const csv = `room,weekday,start,end,term_start,term_end,title,exceptions
R595,Mon,10:40,12:10,2026-10-05,2026-10-26,Lab II,2026-10-12
R364,4,13:00,14:30,2026-10-01,2026-10-15,Networking,
`;

  it('expands weekly lectures over the term in the given zone, skipping exceptions', () => {
    const { lectures: l, skipped } = parseCsv(csv, 'Asia/Tokyo');
    expect(skipped).toEqual([]);
    expect(l.filter((x) => x.room === 'R595').map((x) => iso(x.startsAt))).toEqual([
      '2026-10-05T01:40:00.000Z',
      '2026-10-19T01:40:00.000Z',
      '2026-10-26T01:40:00.000Z',
    ]);
    expect(l.filter((x) => x.room === 'R364').map((x) => iso(x.startsAt))).toEqual([
      '2026-10-01T04:00:00.000Z',
      '2026-10-08T04:00:00.000Z',
      '2026-10-15T04:00:00.000Z',
    ]);
  });

  it.each([
    [
      'room,weekday,start,end,term_start,term_end\n,Mon,10:00,11:00,2026-10-01,2026-10-30',
      /line 2: column "room" is missing/,
    ],
    [
      'room,weekday,start,end,term_start,term_end\nR1,Funday,10:00,11:00,2026-10-01,2026-10-30',
      /line 2: weekday "Funday"/,
    ],
    [
      'room,weekday,start,end,term_start,term_end\nR1,Mon,25:00,11:00,2026-10-01,2026-10-30',
      /start "25:00" is not a time/,
    ],
    [
      'room,weekday,start,end,term_start,term_end\nR1,Mon,12:00,11:00,2026-10-01,2026-10-30',
      /end 11:00 is not after start 12:00/,
    ],
    [
      'room,weekday,start,end,term_start,term_end\nR1,Mon,10:00,11:00,2026-10-31,2026-10-01',
      /term_end 2026-10-01 is before/,
    ],
    [
      'room,weekday,start,end,term_start,term_end\nR1,Mon,10:00,11:00,01/10/2026,2026-10-30',
      /term_start "01\/10\/2026" is not a date/,
    ],
  ])('skips a row it cannot use, naming line and column, and imports the others (%#)', (text, message) => {
    const { lectures, skipped } = parseCsv(`${text}\nR2,Tue,10:00,11:00,2026-10-01,2026-10-07`, 'Asia/Tokyo');
    expect(skipped).toMatchObject([
      { component: 'CSV row', line: 2, reason: expect.stringMatching(message) as string },
    ]);
    expect(lectures.map((l) => l.room)).toEqual(['R2']);
  });

  it('takes a fixed offset as well as an IANA name', () => {
    expect(parseCsv(csv, 'UTC+9').lectures).toEqual(parseCsv(csv, 'Asia/Tokyo').lectures);
  });

  it('refuses an unknown time zone', () => {
    expect(() => parseCsv(csv, 'Mars/Olympus')).toThrow(/unknown time zone/);
  });
});

describe('when a PC is needed', () => {
  const lectures = [
    { startsAt: new Date('2026-11-26T01:00:00Z'), endsAt: new Date('2026-11-26T02:30:00Z') },
    { startsAt: new Date('2026-11-26T05:00:00Z'), endsAt: new Date('2026-11-26T06:30:00Z') },
  ];
  it('says in use until the end of the current lecture, and when the next one starts', () => {
    expect(nodeNeed(lectures, new Date('2026-11-26T02:00:00Z'))).toEqual({
      inLectureUntil: lectures[0]!.endsAt,
      nextLectureAt: lectures[1]!.startsAt,
    });
    expect(nodeNeed(lectures, new Date('2026-11-26T07:00:00Z'))).toEqual({ inLectureUntil: null, nextLectureAt: null });
  });
});
