// The source PC dies after its checkpoint: the container comes back from the newest checkpoint another PC holds.
import { CONTROL_TASK_QUEUE } from '../../common/names';
import { ensureCounterRootfs } from '../../infra/images/counter';
import type { migrateContainer, safetyCheckpoint } from '../../workflows';
import { LiveCluster, sleep } from '../helpers/live-cluster';
import { TEST_PREFIX } from '../helpers/names';

const CONTAINER = `${TEST_PREFIX}-src`;
const cluster = new LiveCluster();

beforeAll(() => cluster.start('10.87.0', 3, { linkRate: '100mbit' }), 180_000);
afterAll(() => cluster.stop());

it('restores a container whose source died after its checkpoint from the newest checkpoint a live PC holds', async () => {
  const rootfs = await ensureCounterRootfs();
  await cluster.api('POST', '/v1/containers', {
    id: CONTAINER,
    args: ['/bin/counter'],
    env: ['MIB=96', 'DIRTY_PAGES_PER_SEC=20'],
    memoryMiB: 128,
    rootfs: { dir: rootfs },
  });
  expect((await cluster.api('POST', `/v1/containers/${CONTAINER}/start`, { nodeId: 'pc1' })).body).toMatchObject({
    nodeId: 'pc1',
  });
  await sleep(1000);
  // Read before the checkpoint: the container keeps counting while its safety copy travels.
  const beforeSafety = cluster.counter('pc1', CONTAINER);
  const safety = await cluster.client.workflow.execute<typeof safetyCheckpoint>('safetyCheckpoint', {
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: `migrate-${CONTAINER}`,
    args: [{ containerId: CONTAINER }],
  });
  const holder = safety.holder!;
  const target = holder === 'pc2' ? 'pc3' : 'pc2';
  // The holder's load report must list the checkpoint before the source dies.
  for (let i = 0; i < 50; i++) {
    const node = (await cluster.api('GET', `/v1/nodes/${holder}`)).body as {
      remnants: { containerId: string; generations: number[] }[];
    };
    if (node.remnants.find((r) => r.containerId === CONTAINER)?.generations.includes(safety.generation!)) break;
    await sleep(200);
  }
  await sleep(1500);

  const handle = await cluster.client.workflow.start<typeof migrateContainer>('migrateContainer', {
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: `migrate-${CONTAINER}`,
    args: [{ containerId: CONTAINER, to: target, reason: 'test', timeouts: { answerSeconds: 5, heartbeatSeconds: 5 } }],
  });
  await cluster.waitForStep(handle.workflowId, 'checkpoint');
  await cluster.killWorker('pc1'); // the source dies with the container already checkpointed (stopped)
  const err = await handle.result().catch((e: unknown) => e as { cause: { message: string } });
  expect((err as { cause: { message: string } }).cause.message).toMatch(
    new RegExp(
      `pc1 could not restore it .*; it runs on ${holder} from generation ${safety.generation}, taken \\d+ s earlier`,
    ),
  );
  expect(await cluster.runningOn(CONTAINER)).toEqual([holder]);
  await sleep(1000);
  const after = cluster.counter(holder, CONTAINER);
  expect(after.bootId).toBe(beforeSafety.bootId); // back from the safety checkpoint, not restarted
  expect(after.count).toBeGreaterThanOrEqual(beforeSafety.count);
  expect((await cluster.api('GET', `/v1/containers/${CONTAINER}`)).body).toMatchObject({
    nodeId: holder,
    state: 'running',
  });
});
