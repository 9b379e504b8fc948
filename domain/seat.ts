// A PC that notices its user: a session logind keeps on the PC's own seat (a student logged in at its keyboard, on a
// text console or a desktop) means the PC is in use, as if a lecture were on. Remote sessions (ssh) do not count
// unless the PC is configured so. Pure: node/seat-watch.ts reads the sessions from logind, this decides.
import { DEFAULT_SEAT, SeatSettings } from '../common/seat-settings';
export { DEFAULT_SEAT } from '../common/seat-settings';
export type { SeatSettings } from '../common/seat-settings';

/** What logind says of one session (org.freedesktop.login1.Session properties). */
export interface LogindSession {
  id: string;
  user: string;
  /** The seat it is attached to ("" for none: ssh, cron). */
  seat: string;
  remote: boolean;
  /** user, greeter, lock-screen, background... only `user` is a person at the PC. */
  class: string;
  /** tty, x11, wayland, mir, unspecified. */
  type: string;
  /** When it began, ms since the epoch (logind's Timestamp, the PC's clock). */
  startedAt: number;
}

/** The sessions that make the PC in use, oldest first. */
export function sessionsInUse(sessions: LogindSession[], settings: SeatSettings = DEFAULT_SEAT): LogindSession[] {
  return sessions
    .filter((s) => s.class === 'user')
    .filter((s) => (s.remote ? settings.remoteCounts : s.seat === settings.seat))
    .sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
}

/** What a PC tells its lifecycle workflow when its use changes. */
export interface SeatChange {
  inUse: boolean;
  /** The user at the PC (the oldest session in use). */
  user?: string;
  session?: string;
  /** When the use began (its session's start) or ended (the last session's end), ISO time, the PC's clock. */
  at: string;
  /** After a logout: seconds until the PC is offered to containers again. */
  idleSeconds?: number;
}

/** ListSessions' a(susso): [id, uid, user, seat, path] for each session. */
export function listedSessions(rows: unknown): { id: string; user: string; seat: string; path: string }[] {
  if (!Array.isArray(rows)) throw new Error(`ListSessions answered ${JSON.stringify(rows)}, not an array of sessions`);
  return rows.map((r) => {
    if (!Array.isArray(r) || r.length !== 5) throw new Error(`a session row is not (susso): ${JSON.stringify(r)}`);
    const [id, , user, seat, path] = r as [string, number, string, string, string];
    return { id: String(id), user: String(user), seat: String(seat), path: String(path) };
  });
}
