// A generated campus for the simulator: rooms of PCs of a few hardware generations, and a term timetable shaped like
// a Japanese university's (six 90-minute periods on weekdays, weekly courses over the term, a holiday or two off),
// at several room utilisations. The timetable is written as the CSV an administrator imports and expanded by the
// same code the API runs (domain/timetable-import.ts).
import type { LectureOccurrence } from '../../domain/timetable';
import { importTimetable } from '../../domain/timetable-import';

export const CAMPUS_ZONE = 'Asia/Tokyo';

/** The periods of a teaching day (local time). */
const PERIODS = [
  ['09:00', '10:30'],
  ['10:40', '12:10'],
  ['13:00', '14:30'],
  ['14:40', '16:10'],
  ['16:20', '17:50'],
  ['18:00', '19:30'],
] as const;
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'] as const;

/**
 * Share of a room's weekly periods that hold a course. The paper's 48 PCs were used 59 min a day on average, about
 * 0.15 of the 30 weekly periods at 5 days a week; busier rooms are common, so rooms draw from this spread.
 */
export const ROOM_UTILISATIONS = [0.1, 0.2, 0.35, 0.5] as const;
export const OPEN_LAB_SHARE = 0.1;

/** Hardware generations: an older CPU lacks instructions a newer one has (a container started there needs them). */
const CPU_MODELS = [
  {
    model: 'Core i5-6500',
    cores: 4,
    memoryGiB: 8,
    flags: ['sse4_2', 'avx', 'avx2', 'aes', 'fma', 'bmi2', 'popcnt'],
  },
  {
    model: 'Core i7-8700',
    cores: 6,
    memoryGiB: 16,
    flags: ['sse4_2', 'avx', 'avx2', 'aes', 'fma', 'bmi2', 'popcnt', 'clflushopt'],
  },
  {
    model: 'Core i7-12700',
    cores: 12,
    memoryGiB: 32,
    flags: ['sse4_2', 'avx', 'avx2', 'aes', 'fma', 'bmi2', 'popcnt', 'clflushopt', 'clwb', 'vaes', 'gfni', 'sha_ni'],
  },
] as const;

export interface SimPc {
  id: string;
  room: string;
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  cpuFlags: string[];
}

export interface Campus {
  pcs: SimPc[];
  rooms: { id: string; pcs: number; utilisation: number }[];
  /** Each room's lectures, by start. */
  lecturesByRoom: Map<string, LectureOccurrence[]>;
  lectures: number;
  termStart: Date;
  termEnd: Date;
  /** Mean minutes a day a PC is in a lecture, over the term's days (the paper's campus: 59). */
  meanLectureMinutesPerPcDay: number;
  /** The timetable as the CSV migration-api imports (POST /v1/lectures/imports, zone CAMPUS_ZONE). */
  timetableCsv: string;
}

const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

/** The term's first day (default Monday 5 April 2027) and `weeks` weeks on (local dates). */
function termDates(weeks: number, startsOn = '2027-04-05'): { start: string; end: string } {
  const start = new Date(`${startsOn}T00:00:00Z`);
  const end = new Date(start.getTime() + (weeks * 7 - 1) * 86_400_000);
  return { start: start.toISOString().slice(0, 10), end: end.toISOString().slice(0, 10) };
}

export function generateCampus(o: { pcs: number; weeks: number; rnd: () => number; startsOn?: string }): Campus {
  const { rnd } = o;
  const rooms: Campus['rooms'] = [];
  const pcs: SimPc[] = [];
  // A self-access lab (no timetable, older PCs) holds a tenth of them: when every lecture room is taken, it is
  // the campus' only room for containers, as on a real campus.
  const openLab = Math.min(o.pcs, Math.max(2, Math.round(o.pcs * OPEN_LAB_SHARE)));
  while (pcs.length < o.pcs) {
    const open = rooms.length === 0;
    const id = open ? 'LAB' : `R${String(rooms.length + 100)}`;
    const size = open ? openLab : Math.min(o.pcs - pcs.length, pick(rnd, [24, 32, 40, 48]));
    const hardware = open ? CPU_MODELS[0] : pick(rnd, CPU_MODELS);
    rooms.push({ id, pcs: size, utilisation: open ? 0 : pick(rnd, ROOM_UTILISATIONS) });
    for (let i = 0; i < size; i++)
      pcs.push({
        id: `pc${pcs.length + 1}`,
        room: id,
        cpuModel: hardware.model,
        cores: hardware.cores,
        memoryBytes: hardware.memoryGiB * 2 ** 30,
        cpuFlags: [...hardware.flags],
      });
  }
  const term = termDates(o.weeks, o.startsOn);
  // Holidays: a lecture on one of these dates does not take place (the CSV's exceptions column).
  const holidays = ['2027-04-29', '2027-05-03', '2027-05-04', '2027-05-05', '2027-07-19'];
  const rows = ['room,weekday,start,end,term_start,term_end,title,exceptions'];
  for (const room of rooms)
    for (const day of WEEKDAYS)
      for (const [start, end] of PERIODS)
        if (rnd() < room.utilisation)
          rows.push(
            [room.id, day, start, end, term.start, term.end, `course ${rows.length}`, holidays.join(';')].join(','),
          );
  const imported = importTimetable(
    { format: 'csv', content: rows.join('\n'), timezone: CAMPUS_ZONE },
    { now: new Date(`${term.start}T00:00:00Z`), windowDays: o.weeks * 7 },
  );
  if (imported.skipped.length)
    throw new Error(`the generated timetable has rows the importer refuses: ${imported.skipped[0]!.reason}`);
  const lecturesByRoom = new Map<string, LectureOccurrence[]>(rooms.map((r) => [r.id, []]));
  for (const l of imported.lectures) lecturesByRoom.get(l.room)!.push(l);
  const pcsOfRoom = new Map(rooms.map((r) => [r.id, r.pcs]));
  const pcMinutes = imported.lectures.reduce(
    (sum, l) => sum + ((l.endsAt.getTime() - l.startsAt.getTime()) / 60_000) * pcsOfRoom.get(l.room)!,
    0,
  );
  return {
    pcs,
    rooms,
    lecturesByRoom,
    lectures: imported.lectures.length,
    termStart: new Date(`${term.start}T00:00:00+09:00`),
    termEnd: new Date(`${term.end}T23:59:59+09:00`),
    meanLectureMinutesPerPcDay: Math.round(pcMinutes / pcs.length / (o.weeks * 7)),
    timetableCsv: rows.join('\n'),
  };
}
