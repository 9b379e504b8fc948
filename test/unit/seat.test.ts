// Login detection's decisions (domain/seat.ts): which logind sessions make a PC in use; logind's session list.
import { listedSessions, LogindSession, sessionsInUse } from '../../domain/seat';

const session = (id: string, over: Partial<LogindSession> = {}): LogindSession => ({
  id,
  user: 'student',
  seat: 'seat0',
  remote: false,
  class: 'user',
  type: 'tty',
  startedAt: 1_000,
  ...over,
});

describe('sessions that make a PC in use', () => {
  it("counts a person's session on the PC's own seat, text or desktop, oldest first", () => {
    const used = sessionsInUse([
      session('5', { type: 'wayland', startedAt: 3_000 }),
      session('3', { startedAt: 2_000 }),
      session('c1', { class: 'greeter', user: 'lightdm' }), // the login screen is nobody
      session('7', { seat: '', type: 'unspecified', class: 'background' }), // cron, a systemd --user
    ]);
    expect(used.map((s) => s.id)).toEqual(['3', '5']);
  });

  it('ignores remote (ssh) sessions unless configured to count them, and other seats', () => {
    const ssh = session('9', { seat: '', remote: true });
    const seat1 = session('4', { seat: 'seat1' });
    expect(sessionsInUse([ssh, seat1])).toEqual([]);
    expect(sessionsInUse([ssh, seat1], { seat: 'seat0', remoteCounts: true }).map((s) => s.id)).toEqual(['9']);
    expect(sessionsInUse([ssh, seat1], { seat: 'seat1', remoteCounts: false }).map((s) => s.id)).toEqual(['4']);
  });
});

describe("logind's ListSessions", () => {
  it('reads its a(susso) rows', () => {
    const rows = [
      ['3', 1000, 'student', 'seat0', '/org/freedesktop/login1/session/_33'],
      ['c2', 0, 'root', '', '/org/freedesktop/login1/session/c2'],
    ];
    expect(listedSessions(rows)).toEqual([
      { id: '3', user: 'student', seat: 'seat0', path: '/org/freedesktop/login1/session/_33' },
      { id: 'c2', user: 'root', seat: '', path: '/org/freedesktop/login1/session/c2' },
    ]);
  });

  it('fails naming what came instead of sessions', () => {
    expect(() => listedSessions('nothing')).toThrow(/not an array of sessions/);
    expect(() => listedSessions([['3', 1000]])).toThrow(/not \(susso\)/);
  });
});
