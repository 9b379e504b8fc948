// Continuous protection on a real cluster (issue 33): a 256 MiB redis (Debian's) on pc1, a client on the LAN writing
// timestamped keys; pc1's loop keeps a safety checkpoint on another PC every interval, without a workflow per
// checkpoint. A move of the container while protected is not held up (the loop yields). Then pc1 is switched off at
// the wall (worker, fence, containers and namespaces killed at once): recovery restores the newest checkpoint
// elsewhere, and the newest key redis still has is at most 30 s older than the power-off. Last, its PC's user sits
// down at it: the container leaves as before a lecture, placement leaves the PC alone until the idle time passed.
import { CONTROL_TASK_QUEUE, nodeLifecycleWorkflowId } from '../../common/names';
import type { ContainerNetwork } from '../../domain/container-network';
import { ensureDebianRootfs, REDIS_ROOTFS } from '../../infra/images/debian-rootfs';
import { connectRedisClient, RedisLanClient } from '../../infra/demo/lan-client';
import type { recoverCrashedNodes } from '../../workflows';
import { LiveCluster, sleep, until } from '../helpers/live-cluster';
import { TEST_PREFIX } from '../helpers/names';

jest.setTimeout(180_000);

const cluster = new LiveCluster();
const REDIS = `${TEST_PREFIX}-predis`;
/** The interval asked for: the 2 % rule may lengthen it (a 256 MiB dump freezes redis a few hundred ms). */
const PROTECT_SECONDS = 10;
let address = '';
let writer!: Writer;
let writerClient: RedisLanClient | undefined;
const user = () => `${cluster.config.namePrefix}-user`;

beforeAll(async () => {
  const [, rootfs] = await Promise.all([
    cluster.start('10.83.0', 3, { protectSeconds: PROTECT_SECONDS }),
    ensureDebianRootfs(REDIS_ROOTFS),
  ]);
  const created = await cluster.api('POST', '/v1/containers', {
    id: REDIS,
    args: ['/usr/bin/redis-server', '/etc/redis.conf', '--save', ''],
    memoryMiB: 256,
    rootfs: { dir: rootfs },
  });
  expect(created.status).toBe(201);
  address = (created.body.network as ContainerNetwork).address;
  expect((await cluster.api('POST', `/v1/containers/${REDIS}/start`, { nodeId: 'pc2' })).body).toMatchObject({
    state: 'running',
  });
}, 300_000);

afterAll(async () => {
  writerClient?.close();
  await cluster.stop();
}, 180_000);

/** The PCs other than `runsOn` holding generations of the container, as migration-api last heard. */
async function holders(runsOn: string): Promise<{ nodeId: string; generations: number[] }[]> {
  const body = (await cluster.api('GET', `/v1/containers/${REDIS}`)).body as {
    remnants: { nodeId: string; generations: number[] }[];
  };
  return body.remnants.filter((r) => r.nodeId !== runsOn && r.generations.length > 0);
}

/** Writes `t:<ms>` keys (and `last`) as fast as redis acknowledges them, until stopped. */
class Writer {
  lastAcked = 0;
  writes = 0;
  private stopping = false;
  private done: Promise<void>;
  constructor(private readonly client: RedisLanClient) {
    this.done = this.loop();
  }
  private async loop(): Promise<void> {
    while (!this.stopping) {
      const ms = Date.now();
      await this.client.command('MSET', `t:${ms}`, String(ms), 'last', String(ms));
      this.lastAcked = ms;
      this.writes++;
      await sleep(50);
    }
  }
  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
  }
}

it('protects a running redis on another PC, and a move of it meanwhile is not held up', async () => {
  const client = await connectRedisClient(user(), address);
  try {
    // ~150 MiB of data in a 256 MiB container (its dump must fit 2 % of a 30 s interval on this machine kind).
    expect(await client.command('DEBUG', 'POPULATE', '800000', 'key', '100')).toBe('OK');
    const info = String(await client.command('INFO', 'memory'));
    console.log(
      `redis ${/used_memory_human:(\S+)/.exec(info)?.[1]} used, ${/used_memory_rss_human:(\S+)/.exec(info)?.[1]} resident`,
    );
  } finally {
    client.close();
  }
  // The student's work: timestamped keys written from now on, through the move (its connection survives it).
  writerClient = await connectRedisClient(user(), address);
  writer = new Writer(writerClient);
  const first = await until(
    'a checkpoint kept off pc2',
    () => holders('pc2'),
    (h) => h.length > 0,
    90_000,
  );
  console.log(`protected: ${JSON.stringify(first)}`);
  // The move waits for no checkpoint: the loop yields to it (no 409, no lock taken by protection).
  const moved = await cluster.migrate(REDIS, 'pc1');
  expect(moved).toMatchObject({ to: 'pc1' });
  const held = await until(
    'a checkpoint of its copy on pc1 kept off pc1',
    () => holders('pc1'),
    (h) => h.some((r) => Math.max(...r.generations) > moved.generation),
    90_000,
  );
  console.log(`protected again after the move: ${JSON.stringify(held)}`);
  // What migration-api says of it: the PC's newest checkpoint, its holder and its freeze (the web view's figures).
  const reported = await until(
    'the protection reported',
    async () => (await cluster.api('GET', `/v1/containers/${REDIS}`)).body.protection as Record<string, unknown> | null,
    (p) => p !== null && p.generation !== undefined && Number(p.generation) > moved.generation,
    30_000,
  );
  expect(reported).toMatchObject({ containerId: REDIS, holder: expect.stringMatching(/^pc[23]$/) as unknown });
  expect(Number(reported!.frozenMs)).toBeGreaterThan(0);
  expect(Number(reported!.intervalMs)).toBeGreaterThanOrEqual(PROTECT_SECONDS * 1000);
});

it('a power-off at the wall loses at most 30 s of acknowledged writes', async () => {
  // At a point of the interval the 2 % rule chose that nobody chose (the first test saw checkpoints already).
  const { intervalMs } = (await cluster.api('GET', `/v1/containers/${REDIS}`)).body.protection as {
    intervalMs: number;
  };
  await sleep(3_000 + Math.random() * intervalMs);
  await writer.stop();
  const lastAcked = writer.lastAcked;
  const offAt = Date.now();
  await cluster.powerOff('pc1');
  writerClient?.close();
  // Recovery (normally its schedule each minute) restores where the newest checkpoint is, once the lease ran out.
  const restored = await until(
    'the container restored off pc1',
    async () =>
      (
        await cluster.client.workflow.execute<typeof recoverCrashedNodes>('recoverCrashedNodes', {
          taskQueue: CONTROL_TASK_QUEUE,
          workflowId: `recover-${TEST_PREFIX}-${Date.now()}`,
          args: [{ offlineAfterSeconds: 1, timeouts: { answerSeconds: 10 } }],
        })
      ).find((r) => r.containerId === REDIS && r.restoredOn),
    (r) => r !== undefined,
    90_000,
  );
  const after = await connectRedisClient(user(), address);
  try {
    const newest = Number(await after.command('GET', 'last'));
    const lostMs = offAt - newest;
    console.log(
      `power-off: ${writer.writes} writes acknowledged, the last at -${offAt - lastAcked} ms; restored on ` +
        `${restored!.restoredOn} from generation ${restored!.generation} (checkpoint age ${restored!.checkpointAgeMs} ms); ` +
        `newest key present ${lostMs} ms before the power-off`,
    );
    expect(newest).toBeGreaterThan(0);
    expect(newest).toBeLessThanOrEqual(lastAcked); // nothing redis never acknowledged
    expect(lostMs).toBeLessThanOrEqual(30_000);
    expect(await after.command('GET', `t:${newest}`)).toBe(String(newest));
    expect(await after.command('DBSIZE')).toBeGreaterThan(800_000);
  } finally {
    after.close();
  }
  const running = Object.entries(await cluster.statusOn(REDIS)).filter(([, s]) => s === 'running');
  expect(running.map(([n]) => n)).toEqual([restored!.restoredOn]);
  // The PC is switched on again, empty of running copies, and reports.
  await cluster.powerOn('pc1');
  const since = Date.now();
  await until(
    'pc1 reporting again',
    async () =>
      ((await cluster.api('GET', '/v1/nodes')).body.nodes as { id: string; lastReportAt: string }[]).find(
        (n) => n.id === 'pc1',
      ),
    (n) => n !== undefined && Date.parse(n.lastReportAt) > since,
    60_000,
  );
});

it('a PC its user sits down at is cleared as before a lecture, and offered again after the idle time', async () => {
  const [where] = Object.entries(await cluster.statusOn(REDIS)).find(([, s]) => s === 'running')!;
  // What the PC's seat watch sends when logind reports a session on seat0 (host PCs have no logind of their own:
  // the guest test logs in for real, node/seat-watch.ts).
  const seat = (change: Record<string, unknown>) =>
    cluster.client.workflow.signalWithStart('nodeLifecycle', {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId: nodeLifecycleWorkflowId(where),
      args: [{ nodeId: where }],
      signal: 'seat',
      signalArgs: [{ at: new Date().toISOString(), ...change }],
    });
  const placement = async () =>
    (await cluster.api('GET', `/v1/containers/${REDIS}/placement`)).body as {
      candidates: { nodeId: string; excludedBecause: string[] }[];
    };
  const t0 = Date.now();
  await seat({ inUse: true, user: 'student', session: '3' });
  const to = await until(
    `${REDIS} off ${where}`,
    async () => Object.entries(await cluster.statusOn(REDIS)).find(([, s]) => s === 'running')?.[0],
    (n) => n !== undefined && n !== where,
    120_000,
  );
  console.log(`in use: ${where} cleared in ${Date.now() - t0} ms (redis now on ${to})`);
  const newest = await until(
    'the move recorded as completed',
    async () =>
      (
        (await cluster.api('GET', `/v1/migrations?containerId=${REDIS}&limit=1`)).body as {
          migrations: { to: string; status: string; reason: string }[];
        }
      ).migrations[0],
    (m) => m?.status === 'completed',
    60_000,
  );
  expect(newest).toMatchObject({ to, reason: `student at the keyboard of ${where}` });
  expect((await placement()).candidates.find((c) => c.nodeId === where)?.excludedBecause).toEqual([
    'in use: student is logged in at it',
  ]);
  await seat({ inUse: false, idleSeconds: 3 });
  await until(
    `${where} offered again after the idle time`,
    async () => (await placement()).candidates.find((c) => c.nodeId === where)?.excludedBecause ?? [],
    (why) => !why.some((w) => w.startsWith('in use')),
    30_000,
  );
});
