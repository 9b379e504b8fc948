// Watches systemd-logind on the system D-Bus for sessions on the PC's own seat: logind's user and session signals
// wake it, it reads the sessions and their properties (one connection, no process per look) and tells its caller
// when the PC became used, or free.
import * as dbus from '@particle/dbus-next';
import { listedSessions, LogindSession, SeatChange, SeatSettings, sessionsInUse } from '../domain/seat';

const LOGIND = 'org.freedesktop.login1';
/** How long the system bus and logind have to answer at start. */
const CONNECT_TIMEOUT_MS = 10_000;

export interface SeatWatchOptions {
  settings: SeatSettings;
  /** Seconds after the last session ended before the PC is offered again (sent with the change). */
  idleSeconds: number;
  /** Told each change: the PC became used, or free. */
  onChange: (change: SeatChange) => Promise<void>;
  /** Readies what onChange needs (a connection), so that the first change does not wait for it. */
  prepare?: () => Promise<void>;
  log?: (line: string) => void;
}

export class SeatWatch {
  private bus: dbus.MessageBus | null = null;
  private manager: dbus.ClientInterface | null = null;
  private inUse: LogindSession | null = null;
  private reading: Promise<void> = Promise.resolve();
  private again = false;
  private readonly log: (line: string) => void;

  constructor(private readonly o: SeatWatchOptions) {
    this.log = o.log ?? ((line) => console.log(line));
  }

  /** Starts watching; false (and why, logged) where this PC has no logind to ask. */
  async start(): Promise<boolean> {
    try {
      const bus = dbus.systemBus();
      this.bus = bus;
      // A bus that cannot be reached says so by an 'error' event only (the call itself would wait forever).
      const unreachable = new Promise<never>((_resolve, reject) => {
        bus.once('error', reject);
        setTimeout(
          () => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)),
          CONNECT_TIMEOUT_MS,
        ).unref();
      });
      unreachable.catch(() => undefined);
      const logind = await Promise.race([bus.getProxyObject(LOGIND, '/org/freedesktop/login1'), unreachable]);
      bus.on('error', (err: unknown) => this.log(`login detection: system bus: ${String(err)}`));
      const manager = logind.getInterface(`${LOGIND}.Manager`);
      this.manager = manager;
      await this.sessions();
      // UserNew comes as a session is created; SessionNew only once its scope started, after the user's systemd
      // manager (26 s under emulation here, for a session created 36 s earlier): each wakes the watch.
      for (const signal of ['UserNew', 'SessionNew', 'SessionRemoved', 'UserRemoved'])
        manager.on(signal, () => this.refresh());
    } catch (err) {
      this.stop();
      this.log(`login detection off: logind does not answer on the system bus (${(err as Error).message})`);
      return false;
    }
    await this.o.prepare?.().catch((err: unknown) => this.log(`login detection: not ready yet (${String(err)})`));
    this.refresh();
    return true;
  }

  stop(): void {
    this.bus?.disconnect();
    this.bus = null;
    this.manager = null;
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
      const seenMs = Date.now() - first.startedAt;
      await this.o.onChange({ inUse: true, user: first.user, session: first.id, at });
      this.log(
        `in use: ${first.user} (session ${first.id}, ${first.type}${first.remote ? ', remote' : ''}) since ${at}; ` +
          `seen ${seenMs} ms after the session began, lifecycle signalled (Temporal answered) ` +
          `${Date.now() - first.startedAt} ms after`,
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
    const bus = this.bus;
    const manager = this.manager;
    if (!bus || !manager) return [];
    const listed = listedSessions(await manager.ListSessions!<unknown[]>());
    return Promise.all(
      listed.map(async (s) => {
        const reply = await bus.call(
          new dbus.Message({
            destination: LOGIND,
            path: s.path,
            interface: 'org.freedesktop.DBus.Properties',
            member: 'GetAll',
            signature: 's',
            body: [`${LOGIND}.Session`],
          }),
        );
        const props = (reply?.body[0] ?? {}) as Record<string, dbus.Variant | undefined>;
        const timestamp = Number(props.Timestamp?.value ?? 0);
        return {
          id: s.id,
          user: s.user,
          seat: s.seat,
          remote: props.Remote?.value === true,
          class: String(props.Class?.value ?? ''),
          type: String(props.Type?.value ?? ''),
          // logind's microseconds; 0 for a session still being set up: seen now.
          startedAt: timestamp > 0 ? Math.floor(timestamp / 1000) : Date.now(),
        };
      }),
    );
  }
}
