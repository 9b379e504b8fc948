// Clients on another machine of the simulated LAN (another PC, or the user host): a Node process entered into that PC's network namespace, so its
// traffic really crosses the bridge to the container's address. One keeps a single redis connection open (replies
// come back as JSON lines; while probing it sends PING every 10 ms and measures the longest wait for an answer);
// another fetches a page over HTTP in a loop and counts answers and errors.
import execa, { ExecaChildProcess } from 'execa';
import { createInterface } from 'node:readline';

/** Runs inside the PC's namespace: one TCP connection speaking RESP, driven by JSON lines on stdin. */
const REDIS_CLIENT = String.raw`
const net = require('net');
const [host, port] = process.argv.slice(1);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const s = net.connect({ host, port: Number(port) }, () => out({ connected: true }));
let buf = Buffer.alloc(0);
const pending = []; // 'user' | 'probe'
let probe = null, lastAnswer = 0, maxGap = 0;
function parse(b, i) {
  const end = b.indexOf('\r\n', i);
  if (end < 0) return null;
  const type = String.fromCharCode(b[i]), line = b.toString('utf8', i + 1, end);
  if (type === '+' ) return { value: line, next: end + 2 };
  if (type === '-') return { value: { error: line }, next: end + 2 };
  if (type === ':') return { value: Number(line), next: end + 2 };
  if (type === '$') { const n = Number(line); if (n < 0) return { value: null, next: end + 2 };
    if (b.length < end + 2 + n + 2) return null; return { value: b.toString('utf8', end + 2, end + 2 + n), next: end + 4 + n }; }
  if (type === '*') { const n = Number(line); const arr = []; let j = end + 2;
    for (let k = 0; k < n; k++) { const r = parse(b, j); if (!r) return null; arr.push(r.value); j = r.next; } return { value: arr, next: j }; }
  throw new Error('unknown RESP type ' + type);
}
s.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  for (;;) {
    const r = parse(buf, 0); if (!r) break;
    buf = buf.subarray(r.next);
    const who = pending.shift();
    // The longest time without any answer while probing: what a user of the service would see.
    const now = Date.now();
    if (probe) { maxGap = Math.max(maxGap, now - lastAnswer); lastAnswer = now; }
    if (who === 'user') out({ reply: r.value });
  }
});
const send = (args, who) => { pending.push(who);
  s.write('*' + args.length + '\r\n' + args.map((a) => '$' + Buffer.byteLength(a) + '\r\n' + a + '\r\n').join('')); };
s.on('error', (e) => { out({ error: e.message }); process.exit(1); });
s.on('close', () => { out({ closed: true }); process.exit(0); });
require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
  const cmd = JSON.parse(l);
  if (cmd === 'probe on') { lastAnswer = Date.now(); maxGap = 0;
    probe = setInterval(() => { if (pending.length === 0) send(['PING'], 'probe'); }, 10); return; }
  if (cmd === 'probe off') { clearInterval(probe); probe = null; out({ maxGapMs: Math.max(maxGap, Date.now() - lastAnswer) }); return; }
  send(cmd, 'user');
});
`;

/** A redis client on `netns` holding one connection to host:port for its whole life. */
export class RedisLanClient {
  private child: ExecaChildProcess;
  private lines: AsyncIterableIterator<string>;

  constructor(netns: string, host: string, port = 6379) {
    this.child = execa(
      'nsenter',
      [`--net=/run/netns/${netns}`, process.execPath, '-e', REDIS_CLIENT, host, String(port)],
      {
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'inherit',
        reject: false,
      },
    );
    this.lines = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
  }

  private async next(): Promise<Record<string, unknown>> {
    const r = await this.lines.next();
    if (r.done) throw new Error('the redis client on the LAN ended');
    return JSON.parse(r.value) as Record<string, unknown>;
  }

  async connected(): Promise<void> {
    const m = await this.next();
    if (!m.connected) throw new Error(`redis client could not connect: ${JSON.stringify(m)}`);
  }

  /** Sends one command on the same connection and returns its reply (or throws on a closed/reset connection). */
  async command(...args: string[]): Promise<unknown> {
    this.child.stdin!.write(`${JSON.stringify(args)}\n`);
    const m = await this.next();
    if (!('reply' in m)) throw new Error(`redis connection lost: ${JSON.stringify(m)}`);
    return m.reply;
  }

  startProbe(): void {
    this.child.stdin!.write('"probe on"\n');
  }

  /** Stops probing; the longest time a PING waited for its answer meanwhile. */
  async stopProbe(): Promise<number> {
    this.child.stdin!.write('"probe off"\n');
    const m = await this.next();
    if (typeof m.maxGapMs !== 'number') throw new Error(`redis connection lost while probing: ${JSON.stringify(m)}`);
    return m.maxGapMs;
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}

/** A client on `netns` connected to the redis at `address`, once it listens (it may have just started). */
export async function connectRedisClient(netns: string, address: string): Promise<RedisLanClient> {
  for (let attempt = 1; ; attempt++) {
    const client = new RedisLanClient(netns, address);
    try {
      await client.connected();
      return client;
    } catch (err) {
      client.close();
      if (attempt >= 20)
        throw new Error(`no redis answered at ${address}:6379 from ${netns}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Runs inside the PC's namespace: GETs a URL every 50 ms until stdin closes, then prints counts. */
const HTTP_PROBE = String.raw`
const http = require('http');
const [url] = process.argv.slice(1);
let ok = 0, errors = [], lastOk = Date.now(), maxGap = 0, stop = false;
process.stdin.on('data', () => {}); process.stdin.on('end', () => { stop = true; });
(async () => {
  while (!stop) {
    await new Promise((resolve) => {
      const req = http.get(url, { timeout: 20000, agent: false }, (res) => {
        let body = ''; res.on('data', (d) => body += d); res.on('end', () => {
          if (res.statusCode === 200 && body.includes('zanshin')) { const now = Date.now(); maxGap = Math.max(maxGap, now - lastOk); lastOk = now; ok++; }
          else errors.push('HTTP ' + res.statusCode); resolve(); });
      });
      req.on('timeout', () => { req.destroy(new Error('timeout')); });
      req.on('error', (e) => { errors.push(e.code || e.message); resolve(); });
    });
    await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write(JSON.stringify({ ok, errors, maxGapMs: maxGap }) + '\n');
})();
`;

/** An HTTP client on `netns` fetching `url` in a loop until stop(). */
export class HttpLanProbe {
  private child: ExecaChildProcess;

  constructor(netns: string, url: string) {
    this.child = execa('nsenter', [`--net=/run/netns/${netns}`, process.execPath, '-e', HTTP_PROBE, url], {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'inherit',
      reject: false,
    });
  }

  /** Ends the probe at once (after a failure), so that nothing outlives the test. */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  async stop(): Promise<{ ok: number; errors: string[]; maxGapMs: number }> {
    this.child.stdin!.end();
    const r = await this.child;
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { ok: number; errors: string[]; maxGapMs: number };
  }
}

/** One HTTP GET from `netns`: the body, or the error. With `waitMs`, retries until the server answers. */
export async function httpGetFrom(netns: string, url: string, waitMs = 0): Promise<string> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await httpGetOnce(netns, url);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Runs inside the PC's namespace: one GET, the body on stdout, exit 1 with the error on stderr. */
const HTTP_GET = String.raw`
const req = require('http').get(process.argv[1], { timeout: 5000 }, (res) => {
  let body = ''; res.on('data', (d) => body += d);
  res.on('end', () => { if (res.statusCode !== 200) { console.error('HTTP ' + res.statusCode); process.exit(1); } process.stdout.write(body); });
});
req.on('timeout', () => req.destroy(new Error('timed out after 5 s')));
req.on('error', (e) => { console.error(e.code || e.message); process.exit(1); });
`;

async function httpGetOnce(netns: string, url: string): Promise<string> {
  const r = await execa('nsenter', [`--net=/run/netns/${netns}`, process.execPath, '-e', HTTP_GET, url], {
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`GET ${url} from ${netns} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  return r.stdout;
}
