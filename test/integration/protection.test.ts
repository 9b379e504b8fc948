// Continuous protection on a real cluster (issue 33): a 256 MiB redis (Debian's) on pc1, a client on the LAN writing
// timestamped keys; pc1's loop keeps a safety checkpoint on another PC every interval, without a workflow per
// checkpoint. A move of the container while protected is not held up (the loop yields). Then pc1 is switched off at
// the wall (worker, fence, containers and namespaces killed at once): recovery restores the newest checkpoint
// elsewhere, and the newest key redis still has is at most 30 s older than the power-off.
import { CONTROL_TASK_QUEUE } from '../../common/names';
import type { ContainerNetwork } from '../../domain/container-network';
import { ensureDebianRootfs, REDIS_ROOTFS } from '../../infra/images/debian-rootfs';
import { connectRedisClient, RedisLanClient } from '../../infra/demo/lan-client';
import type { recoverCrashedNodes } from '../../workflows';
import { LiveCluster, sleep } from '../helpers/live-cluster';
import { TEST_PREFIX } from '../helpers/names';

jest.setTimeout(180_000);

const cluster = new LiveCluster();
const REDIS = `${TEST_PREFIX}-predis`;
/** The interval asked for: the 2 % rule may lengthen it (a 256 MiB dump freezes redis a few hundred ms). */
const PROTECT_SECONDS = 10;
let address = '';
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

afterAll(() => cluster.stop(), 180_000);

/** The PCs other than `runsOn` holding generations of the container, as migration-api last heard. */
async function holders(runsOn: string): Promise<{ nodeId: string; generations: number[] }[]> {
  const body = (await cluster.api('GET', `/v1/containers/${REDIS}`)).body as {
    remnants: { nodeId: string; generations: number[] }[];
  };
  return body.remnants.filter((r) => r.nodeId !== runsOn && r.generations.length > 0);
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen ${JSON.stringify(v)}`);
    await sleep(500);
  }
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
    // ~200 MiB of data in a 256 MiB container.
    expect(await client.command('DEBUG', 'POPULATE', '1000000', 'key', '100')).toBe('OK');
  } finally {
    client.close();
  }
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
  const client = await connectRedisClient(user(), address);
  const writer = new Writer(client);
  // Past a few checkpoints, at a point of the interval nobody chose.
  await sleep(25_000 + Math.random() * PROTECT_SECONDS * 1000);
  await writer.stop();
  const lastAcked = writer.lastAcked;
  const offAt = Date.now();
  await cluster.powerOff('pc1');
  client.close();
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
    expect(await after.command('DBSIZE')).toBeGreaterThan(1_000_000);
  } finally {
    after.close();
  }
  const running = Object.entries(await cluster.statusOn(REDIS)).filter(([, s]) => s === 'running');
  expect(running.map(([n]) => n)).toEqual([restored!.restoredOn]);
});
