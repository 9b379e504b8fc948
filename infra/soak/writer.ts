// A student's client of the soak's redis, on the user host (another machine of the LAN): it writes keys in order
// (SET soak:<n> <time>) over one connection, reconnecting when a recovery or restart cut it, and keeps when each
// write was acknowledged. After a move every acknowledged key must be there; after a recovery, every key
// acknowledged before the checkpoint it came back from.
import execa, { ExecaChildProcess } from 'execa';
import { createInterface } from 'node:readline';

/** Runs inside the user host's namespace: prints one JSON line per acknowledged write. */
const WRITER = String.raw`
const net = require('net');
const [host] = process.argv.slice(1);
let n = Number(process.argv[2] || 0);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
function connect() {
  const s = net.connect({ host, port: 6379 });
  // One connection at a time, one SET in flight, and a key counts only when its own +OK comes back. (A connection's
  // 'error' and 'close' both retried before: the writers doubled at each reconnect, two of them SET the same key
  // and counted two acknowledgements, and keys never written were reported as lost.)
  let buf = '', pending = 0, timer = null, retried = false;
  const next = () => {
    if (pending) return;
    pending = n + 1;
    const key = 'soak:' + pending, value = String(Date.now());
    s.write('*3\r\n$3\r\nSET\r\n$' + key.length + '\r\n' + key + '\r\n$' + value.length + '\r\n' + value + '\r\n');
  };
  s.on('connect', () => { out({ connected: true }); timer = setInterval(next, 50); next(); });
  s.on('data', (d) => {
    buf += d.toString();
    while (buf.includes('\r\n')) {
      const line = buf.slice(0, buf.indexOf('\r\n')); buf = buf.slice(buf.indexOf('\r\n') + 2);
      if (line === '+OK' && pending) { n = pending; out({ ack: n, at: Date.now() }); }
      else out({ error: line });
      pending = 0;
    }
  });
  const retry = () => {
    if (retried) return;
    retried = true;
    clearInterval(timer); s.destroy(); setTimeout(connect, 500);
  };
  s.on('error', retry); s.on('close', retry);
}
connect();
`;

export interface Ack {
  n: number;
  at: number;
}

export class RedisWriter {
  private child: ExecaChildProcess | null = null;
  readonly acks: Ack[] = [];
  reconnects = 0;

  constructor(
    private readonly userNamespace: string,
    private readonly host: string,
  ) {}

  start(): void {
    this.child = execa(
      'nsenter',
      [`--net=/run/netns/${this.userNamespace}`, process.execPath, '-e', WRITER, this.host],
      {
        stdin: 'ignore',
        stdout: 'pipe',
        stderr: 'ignore',
        reject: false,
      },
    );
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { ack?: number; at?: number; connected?: boolean };
      if (m.ack !== undefined) this.acks.push({ n: m.ack, at: m.at! });
      else if (m.connected) this.reconnects++;
    });
  }

  /** The last key acknowledged at or before `t` (0: none). */
  lastAckedBefore(t: number): number {
    let last = 0;
    for (const a of this.acks) if (a.at <= t) last = a.n;
    return last;
  }

  get lastAcked(): number {
    return this.acks.length ? this.acks[this.acks.length - 1]!.n : 0;
  }

  stop(): void {
    this.child?.kill('SIGKILL');
  }
}
