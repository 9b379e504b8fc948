/**
 * iCalendar timetables as real producers export them (Google Calendar, Outlook/Exchange, Zimbra, Apple, university
 * timetabling systems), expanded into lectures. What cannot be used is reported with its line and reason and the rest
 * is imported; only a file that is not iCalendar at all is refused. Pure apart from parsing libraries.
 *
 * Time zones, in this order: a VTIMEZONE of the file (RFC 5545), else the TZID read as an IANA name, else as a Windows
 * zone name (Outlook/Exchange: "Tokyo Standard Time"), both from the time-zone database; floating times and all-day
 * dates are in the campus time zone.
 */
import ICAL from 'ical.js';
import { DateTime, IANAZone } from 'luxon';
import { findIana } from 'windows-iana';
import { isKnownZone, LectureOccurrence, SkippedComponent, TimetableError, TimetableImport } from './timetable';

export interface IcsImportOptions {
  /** Lectures are expanded up to here (recurrences without an end stop here). */
  until: Date;
  /** Zone of floating times and all-day events (IANA name or fixed offset). */
  campusZone: string;
  /** Refuse a file that expands to more than this. @default 50000 */
  maxOccurrences?: number;
}

/** An iCalendar content line: name, parameters (values may be quoted and hold ':' or ';'), ':' and a value. */
const CONTENT_LINE = /^[A-Za-z0-9-]+(;[A-Za-z0-9-]+=("[^"]*"|[^";:,]*)(,("[^"]*"|[^";:,]*))*)*:/;

interface Unfolded {
  text: string;
  /** File line where it starts (1-based). */
  line: number;
}

/** RFC 5545 3.1: a line starting with a space or tab continues the previous one. */
function unfold(text: string): Unfolded[] {
  const out: Unfolded[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if ((raw.startsWith(' ') || raw.startsWith('\t')) && out.length) out[out.length - 1]!.text += raw.slice(1);
    else if (raw.trim() !== '') out.push({ text: raw, line: i + 1 });
  });
  return out;
}

/**
 * Checks that the text is iCalendar (content lines, balanced BEGIN/END, one VCALENDAR) and returns the line of each
 * component's BEGIN, per component name, in file order: ical.js keeps that order, so the n-th VEVENT it gives is at
 * the n-th line here.
 */
function componentLines(text: string): Map<string, number[]> {
  const lines = unfold(text);
  const first = lines[0];
  if (!first || first.text.trim().toUpperCase() !== 'BEGIN:VCALENDAR')
    throw new TimetableError(
      `line ${first?.line ?? 1}: an iCalendar file starts with BEGIN:VCALENDAR, found ${JSON.stringify(first?.text.slice(0, 60) ?? '')}`,
    );
  const open: string[] = [];
  const at = new Map<string, number[]>();
  for (const { text: l, line } of lines) {
    if (!CONTENT_LINE.test(l))
      throw new TimetableError(`line ${line}: ${JSON.stringify(l.slice(0, 60))} is not an iCalendar line (NAME:value)`);
    const [name, value = ''] = l.split(':', 2).map((s) => s.trim().toUpperCase()) as [string, string?];
    if (name === 'BEGIN') {
      if (!open.length && at.has('VCALENDAR'))
        throw new TimetableError(`line ${line}: a second VCALENDAR; import one calendar per file`);
      open.push(value);
      at.set(value, [...(at.get(value) ?? []), line]);
    } else if (name === 'END') {
      const top = open.pop();
      if (top !== value)
        throw new TimetableError(`line ${line}: END:${value} closes ${top ? `BEGIN:${top}` : 'nothing'}`);
    } else if (!open.length) {
      throw new TimetableError(`line ${line}: ${JSON.stringify(l.slice(0, 60))} lies outside BEGIN:VCALENDAR/END`);
    }
  }
  if (open.length) throw new TimetableError(`the file ends inside BEGIN:${open[open.length - 1]} (truncated?)`);
  return at;
}

/** The IANA zone a TZID names, or null: IANA names as they are, Windows names through CLDR's mapping. */
export function resolveTzid(tzid: string): string | null {
  const name = tzid.replace(/^"|"$/g, '').trim();
  // Some producers prefix a path (Lightning: /mozilla.org/20070129_1/Europe/Berlin, others /Asia/Tokyo).
  const candidates = [name, name.replace(/^\/([^/]+\/\d+[^/]*\/)?/, '')];
  for (const c of candidates) if (IANAZone.isValidZone(c)) return c;
  for (const c of candidates) {
    const iana = findIana(c)?.[0];
    if (iana && IANAZone.isValidZone(iana)) return iana;
  }
  return null;
}

class SkipComponent extends Error {}

/** Converts ical.js times to instants: file-defined and UTC zones by ical.js, floating wall times in `zone`. */
function instant(t: ICAL.Time, zone: string): Date {
  if (t.zone === ICAL.Timezone.utcTimezone || (t.zone && t.zone !== ICAL.Timezone.localTimezone)) return t.toJSDate();
  const d = DateTime.fromObject(
    { year: t.year, month: t.month, day: t.day, hour: t.hour, minute: t.minute, second: t.second },
    { zone },
  );
  return d.toJSDate();
}

/** The zone of an event's floating times: its DTSTART's TZID when the file does not define it, else the campus's. */
function floatingZoneOf(v: ICAL.Component, campusZone: string): string {
  const prop = v.getFirstProperty('dtstart');
  const tzid = prop?.getParameter('tzid');
  if (typeof tzid !== 'string' || !tzid) return campusZone;
  if (v.parent?.getTimeZoneByID(tzid)) return campusZone; // defined in the file: ical.js converts those itself
  const zone = resolveTzid(tzid);
  if (!zone)
    throw new SkipComponent(
      `time zone ${JSON.stringify(tzid)} is neither defined in the file (VTIMEZONE) nor an IANA or Windows zone name`,
    );
  return zone;
}

/** An occurrence's start and end as instants; all-day dates take the whole day(s) in the campus zone. */
function span(start: ICAL.Time, end: ICAL.Time, zone: string, campusZone: string): { startsAt: Date; endsAt: Date } {
  if (start.isDate) {
    const day = (t: ICAL.Time) =>
      DateTime.fromObject({ year: t.year, month: t.month, day: t.day }, { zone: campusZone });
    const s = day(start);
    const e = end.isDate && end.compare(start) > 0 ? day(end) : s.plus({ days: 1 });
    return { startsAt: s.toJSDate(), endsAt: e.toJSDate() };
  }
  return { startsAt: instant(start, zone), endsAt: instant(end, zone) };
}

/** Whether an EXDATE of the event names `t` (a DATE exdate excludes that whole day). */
function excluded(v: ICAL.Component, t: ICAL.Time): boolean {
  return v
    .getAllProperties('exdate')
    .flatMap((p) => p.getValues() as ICAL.Time[])
    .some((x) => (x.isDate ? x.year === t.year && x.month === t.month && x.day === t.day : x.compare(t) === 0));
}

const text = (v: ICAL.Component, name: string): string => {
  const value = v.getFirstPropertyValue(name);
  return typeof value === 'string' ? value.trim() : '';
};

export function parseIcs(source: string, o: IcsImportOptions): TimetableImport {
  if (!isKnownZone(o.campusZone)) throw new TimetableError(`unknown campus time zone ${o.campusZone}`);
  const max = o.maxOccurrences ?? 50_000;
  const lines = componentLines(source);
  let root: ICAL.Component;
  try {
    root = new ICAL.Component(ICAL.parse(source) as unknown[]);
  } catch (err) {
    throw new TimetableError(`not a valid iCalendar file: ${(err as Error).message}`);
  }
  const skipped: SkippedComponent[] = [];
  const lineOf = (name: string, n: number): number => lines.get(name.toUpperCase())?.[n] ?? 0;

  // A VTIMEZONE without TZID (Zimbra adds one holding only X- properties) defines nothing, and would break lookups.
  root.getAllSubcomponents('vtimezone').forEach((tz, n) => {
    if (typeof tz.getFirstPropertyValue('tzid') !== 'string') {
      root.removeSubcomponent(tz);
      skipped.push({ component: 'VTIMEZONE', line: lineOf('VTIMEZONE', n), reason: 'has no TZID: ignored' });
    }
  });

  const vevents = root.getAllSubcomponents('vevent');
  const masters = new Set(vevents.filter((v) => !v.hasProperty('recurrence-id')).map((v) => text(v, 'uid')));
  const moved = new Map<string, ICAL.Component[]>();
  for (const v of vevents) {
    const uid = text(v, 'uid');
    if (v.hasProperty('recurrence-id') && masters.has(uid)) moved.set(uid, [...(moved.get(uid) ?? []), v]);
  }

  const lectures: LectureOccurrence[] = [];
  let continuingPastWindow = 0;
  vevents.forEach((v, n) => {
    const uid = text(v, 'uid');
    // A moved instance is taken with its event; one whose event is not in the file stands alone.
    if (v.hasProperty('recurrence-id') && masters.has(uid)) return;
    const summary = text(v, 'summary');
    const skip = (reason: string) =>
      skipped.push({
        component: 'VEVENT',
        line: lineOf('VEVENT', n),
        ...(uid ? { uid } : {}),
        ...(summary ? { summary } : {}),
        reason,
      });
    try {
      if (text(v, 'status').toUpperCase() === 'CANCELLED') throw new SkipComponent('cancelled (STATUS:CANCELLED)');
      const room = text(v, 'location');
      if (!room) throw new SkipComponent('has no LOCATION: the room decides which PCs it takes');
      if (!v.hasProperty('dtstart')) throw new SkipComponent('has no DTSTART');
      // Its own moved instances only: by default ical.js relates every RECURRENCE-ID of the file to every event, and
      // a lecture moved in one course then moved another course's lecture at the same local time too.
      const event = new ICAL.Event(v, { strictExceptions: true, exceptions: moved.get(uid) ?? [] });
      const start = event.startDate;
      if (!start.isDate && !v.hasProperty('dtend') && !v.hasProperty('duration'))
        throw new SkipComponent('has neither DTEND nor DURATION: a lecture needs an end');
      const zone = floatingZoneOf(v, o.campusZone);
      const fresh: LectureOccurrence[] = [];
      const seen = new Set<number>();
      const add = (s: ICAL.Time, e: ICAL.Time, item: ICAL.Event): void => {
        if (text(item.component, 'status').toUpperCase() === 'CANCELLED') return;
        const when = span(s, e, zone, o.campusZone);
        // An RDATE may repeat DTSTART or another date: one lecture each.
        if (seen.has(when.startsAt.getTime())) return;
        seen.add(when.startsAt.getTime());
        if (!(when.endsAt > when.startsAt)) throw new SkipComponent('ends before it starts');
        if (when.startsAt > o.until) return;
        fresh.push({ room: text(item.component, 'location') || room, title: item.summary || summary, ...when });
      };
      if (!event.isRecurring()) {
        add(start, event.endDate, event);
      } else {
        // DTSTART is the first instance of every recurrence set (RFC 5545 3.8.5.2); ical.js leaves it out when only
        // RDATEs recur.
        if (!v.hasProperty('rrule') && !excluded(v, start)) add(start, event.endDate, event);
        const it = event.iterator();
        let iterations = 0;
        for (let next = it.next() as ICAL.Time | ICAL.Period | null; next; next = it.next()) {
          // RDATE;VALUE=PERIOD gives a period: its own start and end.
          if (next instanceof ICAL.Period) {
            add(next.start, next.getEnd(), event);
            continue;
          }
          if (++iterations > 1_000_000) throw new SkipComponent('its rule yields too many dates to expand');
          if (instant(next, zone) > o.until) {
            if (!it.complete) continuingPastWindow++;
            break;
          }
          const d = event.getOccurrenceDetails(next);
          add(d.startDate, d.endDate, d.item);
        }
      }
      if (lectures.length + fresh.length > max)
        throw new TimetableError(
          `the timetable expands to more than ${max} lectures by ${o.until.toISOString().slice(0, 10)}; shorten the window`,
        );
      lectures.push(...fresh);
    } catch (err) {
      if (err instanceof TimetableError) throw err;
      // ical.js throws plain errors for values it cannot read (a bad RRULE, a malformed date): that event is skipped.
      skip(err instanceof SkipComponent ? err.message : `cannot be read: ${(err as Error).message}`);
    }
  });
  lectures.sort((a, b) => a.startsAt.getTime() - b.startsAt.getTime() || a.room.localeCompare(b.room));
  return { lectures, skipped, continuingPastWindow };
}
