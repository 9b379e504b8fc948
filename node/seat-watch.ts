// Watches systemd-logind over the system D-Bus for sessions on the PC's own seat, through busctl (systemd's own
// D-Bus client, on every PC that runs logind): a monitor of logind's user and session signals wakes it,
// then it reads the sessions and their properties and tells its caller when the PC became used or free.
import execa from 'execa';
import { createInterface } from 'node:readline';
import { busctlData, listedSessions, LogindSession, SeatChange, SeatSettings, sessionsInUse } from '../domain/seat';

const LOGIND = ['org.freedesktop.login1', '/org/freedesktop/login1', 'org.freedesktop.login1.Manager'] as const;

export interface SeatWatchOptions {
  settings: SeatSettings;
  /** Seconds after the last session ended before the PC is offered again (sent with the change). */
  idleSeconds: number;
  /** Told each change: the PC became used, or free. */
  onChange: (change: SeatChange) => Promise<void>;
  /** Readies what onChange needs (a connection), so that the first change does not wait for it. */
  prepare?: () => Promise<void>;
  log?: (line: string) => void;
  busctl?: string;
}

export class SeatWatch {
  private monitor: execa.ExecaChildProcess | null = null;
  private inUse: LogindSession | null = null;
  private reading: Promise<void> = Promise.resolve();
  private again = false;
  private readonly log: (line: string) => void;
  private readonly busctl: string;

  constructor(private readonly o: SeatWatchOptions) {
    this.log = o.log ?? ((line) => console.log(line));
    this.busctl = o.busctl ?? 'busctl';
  }

  /** Starts watching; false (and why, logged) where this PC has no logind to ask. */
  async start(): Promise<boolean> {
    try {
      await this.sessions();
    } catch (err) {
      this.log(
        `login detection off: logind does not answer on the system bus (${(err as Error).message.split('\n')[0]})`,
      );
      return false;
    }
    // UserNew comes as the session is created; SessionNew only once its scope started, after the user's systemd
    // manager (26 s under emulation here, for a session created 36 s earlier): both wake the watch.
    const matches = ['UserNew', 'SessionNew', 'SessionRemoved', 'UserRemoved'].map(
      (member) => `--match=type='signal',interface='${LOGIND[2]}',member='${member}'`,
    );
    this.monitor = execa(this.busctl, ['--system', '--json=short', 'monitor', ...matches], {
      stdin: 'ignore',
      stderr: 'pipe',
      reject: false,
    });
    createInterface({ input: this.monitor.stdout! }).on('line', () => this.refresh());
    await this.o.prepare?.().catch((err: unknown) => this.log(`login detection: not ready yet (${String(err)})`));
    void this.monitor.then((r) => {
      if (this.monitor) this.log(`login detection stopped: busctl monitor ended (${r.exitCode}): ${r.stderr}`);
    });
    this.refresh();
    return true;
  }

  stop(): void {
    const m = this.monitor;
    this.monitor = null;
    m?.kill();
  }

  /** Reads the sessions again (one read at a time; a signal during a read asks for one more). */
  refresh(): void {
    if (this.again) return;
    this.again = true;
    this.reading = this.reading.then(async () => {
      this.again = false;
      try {
        await this.decide(sessionsInUse(await this.sessions(), this.o.settings));
      } catch (err) {
        this.log(`login detection: reading logind's sessions failed: ${(err as Error).message}`);
      }
    });
  }

  private async decide(used: LogindSession[]): Promise<void> {
    const first = used[0] ?? null;
    if (first && !this.inUse) {
      this.inUse = first;
      const at = new Date(first.startedAt).toISOString();
      await this.o.onChange({ inUse: true, user: first.user, session: first.id, at });
      this.log(
        `in use: ${first.user} (session ${first.id}, ${first.type}${first.remote ? ', remote' : ''}) since ${at}; ` +
          `lifecycle told ${Date.now() - first.startedAt} ms after the session began`,
      );
    } else if (!first && this.inUse) {
      const was = this.inUse;
      this.inUse = null;
      await this.o.onChange({ inUse: false, at: new Date().toISOString(), idleSeconds: this.o.idleSeconds });
      this.log(`free: ${was.user} logged out; offered again in ${this.o.idleSeconds} s`);
    }
  }

  /** Every session logind keeps, with the properties that decide. */
  private async sessions(): Promise<LogindSession[]> {
    const call = await execa(this.busctl, ['--system', '--json=short', 'call', ...LOGIND, 'ListSessions']);
    const listed = listedSessions(busctlData(call.stdout));
    return Promise.all(
      listed.map(async (s) => {
        const props = await execa(this.busctl, [
          '--system',
          '--json=short',
          'get-property',
          LOGIND[0],
          s.path,
          'org.freedesktop.login1.Session',
          'Remote',
          'Class',
          'Type',
          'Timestamp',
        ]);
        const [remote, klass, type, timestamp] = props.stdout
          .split('\n')
          .filter(Boolean)
          .map((line) => (JSON.parse(line) as { data: unknown }).data);
        return {
          id: s.id,
          user: s.user,
          seat: s.seat,
          remote: remote === true,
          class: String(klass),
          type: String(type),
          // logind's microseconds; 0 for a session still being set up: seen now.
          startedAt: Number(timestamp) > 0 ? Math.floor(Number(timestamp) / 1000) : Date.now(),
        };
      }),
    );
  }
}
