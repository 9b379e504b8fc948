// Held, not dropped (issue 29): while a container's address is held, what its peers send waits in the kernel and
// passes when released; discarded, it is dropped (never handed to a namespace where nothing listens, which would
// reset the connection). Real namespaces, a real TCP connection, the real zanshin-hold.
import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import execa from 'execa';
import { TrafficHolder } from '../../node/traffic-holder';
import { TEST_PREFIX } from '../helpers/names';

const server = `${TEST_PREFIX}-hs`;
const client = `${TEST_PREFIX}-hc`;
const QUEUE = ['INPUT', '-i', 'hs0', '-j', 'NFQUEUE', '--queue-num', '0'];
const sh = (args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: 'pipe' });
const inServer = (args: string[]) => sh(['ip', 'netns', 'exec', server, ...args]);
const children: execa.ExecaChildProcess[] = [];

beforeAll(() => {
  sh(['ip', 'netns', 'add', server]);
  sh(['ip', 'netns', 'add', client]);
  sh(['ip', 'link', 'add', `${TEST_PREFIX}hc`, 'type', 'veth', 'peer', 'name', `${TEST_PREFIX}hs`]);
  sh(['ip', 'link', 'set', `${TEST_PREFIX}hc`, 'netns', client, 'name', 'hc0']);
  sh(['ip', 'link', 'set', `${TEST_PREFIX}hs`, 'netns', server, 'name', 'hs0']);
  sh(['ip', '-n', client, 'addr', 'add', '10.99.8.1/24', 'dev', 'hc0']);
  sh(['ip', '-n', server, 'addr', 'add', '10.99.8.2/24', 'dev', 'hs0']);
  for (const [ns, dev] of [
    [client, 'hc0'],
    [server, 'hs0'],
  ] as const) {
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
  }
});
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const ns of [server, client]) execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
});

/** An echo server in the server namespace, and a client sending a line every 10 ms that prints each answer. */
async function connection(): Promise<{ answers: () => number; closed: () => string | null }> {
  const echo = execa('ip', [
    'netns',
    'exec',
    server,
    process.execPath,
    '-e',
    "require('net').createServer((s) => s.pipe(s)).listen(7000, '10.99.8.2', () => console.log('up'))",
  ]);
  children.push(echo);
  await new Promise((r) => echo.stdout!.once('data', r));
  const talker = execa('ip', [
    'netns',
    'exec',
    client,
    process.execPath,
    '-e',
    `const s = require('net').connect(7000, '10.99.8.2');
     s.on('data', (d) => console.log('answer'));
     s.on('error', (e) => { console.log('closed ' + e.code); process.exit(1); });
     s.on('close', () => { console.log('closed'); process.exit(1); });
     setInterval(() => s.write('x'), 10);`,
  ]);
  children.push(talker);
  let answers = 0;
  let closed: string | null = null;
  createInterface({ input: talker.stdout! }).on('line', (l) => {
    if (l === 'answer') answers++;
    else if (l.startsWith('closed')) closed = l;
  });
  return { answers: () => answers, closed: () => closed };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('keeps what peers send while held and passes it on release; the connection lives on', async () => {
  const c = await connection();
  await sleep(300);
  expect(c.answers()).toBeGreaterThan(0);

  const holder = await TrafficHolder.start(`/run/netns/${server}`);
  inServer(['iptables', '-w', '-A', ...QUEUE]);
  await sleep(800);
  const answeredWhileHeld = c.answers();
  await sleep(400);
  expect(c.answers()).toBe(answeredWhileHeld); // nothing passes while held
  inServer(['iptables', '-w', '-F', 'INPUT']);
  const held = await holder.release();
  expect(held).toBeGreaterThan(0);
  await sleep(500);
  expect(c.answers()).toBeGreaterThan(answeredWhileHeld);
  expect(c.closed()).toBeNull();

  // Discarded: what it held is dropped, not passed; the peer retransmits once the rule is gone, and lives on.
  const second = await TrafficHolder.start(`/run/netns/${server}`);
  inServer(['iptables', '-w', '-A', ...QUEUE]);
  await sleep(500);
  second.discard();
  const beforeLift = c.answers();
  await sleep(300);
  expect(c.answers()).toBe(beforeLift); // no listener now: the rule drops
  inServer(['iptables', '-w', '-F', 'INPUT']);
  await sleep(2_500); // the peer's next retransmission (TCP back-off)
  expect(c.answers()).toBeGreaterThan(beforeLift);
  expect(c.closed()).toBeNull();
}, 30_000);

it('says what is missing when it cannot hold', async () => {
  await expect(TrafficHolder.start(`/run/netns/${server}`, '/nonexistent/zanshin-hold')).rejects.toThrow(
    /zanshin-hold is missing \(run infra\/provision\.sh\)/,
  );
});
