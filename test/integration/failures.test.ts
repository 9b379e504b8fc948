// Failure semantics of migrateContainer on the real cluster: node workers are killed with SIGKILL mid-migration.
import execa from 'execa';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { CONTROL_TASK_QUEUE } from '../../common/names';
import { ensureCounterRootfs } from '../../infra/images/counter';
import type { migrateContainer } from '../../workflows';
import type { MigrateContainerInput, MigrationResult } from '../../workflows/migrate-container';
import { LiveCluster, sleep } from '../helpers/live-cluster';
import { TEST_PREFIX } from '../helpers/names';
import { ErrorType } from '../../common/errors';

const CONTAINER = `${TEST_PREFIX}-fail`;
const cluster = new LiveCluster();
const timeouts = { answerSeconds: 5, heartbeatSeconds: 5 };
const migrate = (to: string) => ({
  taskQueue: CONTROL_TASK_QUEUE,
  workflowId: `migrate-${CONTAINER}`,
  args: [{ containerId: CONTAINER, to, reason: 'test', timeouts }] as [MigrateContainerInput],
});

// A slow link, so that a worker can be killed while a checkpoint is on its way.
beforeAll(() => cluster.start('10.82.0', 3, { linkRate: '100mbit' }), 180_000);
afterAll(() => cluster.stop());

describe('migrateContainer when PCs die', () => {
  it('restores the container on its source when the restore fails on the target', async () => {
    const rootfs = await ensureCounterRootfs();
    expect(
      (
        await cluster.api('POST', '/v1/containers', {
          id: CONTAINER,
          args: ['/bin/counter'],
          env: ['MIB=96', 'DIRTY_PAGES_PER_SEC=20'],
          memoryMiB: 128,
          rootfs: { dir: rootfs },
        })
      ).status,
    ).toBe(201);
    expect((await cluster.api('POST', `/v1/containers/${CONTAINER}/start`, { nodeId: 'pc1' })).body).toMatchObject({
      nodeId: 'pc1',
      state: 'running',
    });
    await sleep(1500);
    const before = cluster.counter('pc1', CONTAINER);
    // pc2 can receive but not write the container's files: its restore step fails (not its PC).
    const blocked = path.join(cluster.nodeDirs.pc2!, 'store', 'containers', CONTAINER);
    mkdirSync(blocked, { recursive: true });
    await execa('chattr', ['+i', blocked]);
    try {
      const err = await cluster.client.workflow
        .execute<typeof migrateContainer>('migrateContainer', migrate('pc2'))
        .catch((e: unknown) => e as { cause: { type: string; message: string } });
      expect((err as { cause: { type: string } }).cause.type).toBe(ErrorType.MigrationFailed);
      expect((err as { cause: { message: string } }).cause.message).toMatch(
        /\(pc2: failed\); it runs again on pc1 from generation \d+/,
      );
    } finally {
      await execa('chattr', ['-i', blocked]);
    }
    expect(await cluster.runningOn(CONTAINER)).toEqual(['pc1']);
    await sleep(1000);
    const after = cluster.counter('pc1', CONTAINER);
    expect([after.bootId, after.count > before.count]).toEqual([before.bootId, true]);
    expect((await cluster.api('GET', `/v1/containers/${CONTAINER}`)).body).toMatchObject({
      nodeId: 'pc1',
      state: 'running',
    });
  });

  it('resends the checkpoint to another PC when the target dies after the checkpoint', async () => {
    const before = cluster.counter('pc1', CONTAINER);
    const handle = await cluster.client.workflow.start<typeof migrateContainer>('migrateContainer', migrate('pc2'));
    // Kill pc2's worker (and with it its data plane) as soon as the source has checkpointed.
    await cluster.waitForStep(handle.workflowId, 'checkpoint');
    await cluster.killWorker('pc2');
    const result: MigrationResult = await handle.result();

    expect(result.attempts.map((a) => [a.to, a.outcome])).toEqual([
      ['pc2', 'target failed'],
      ['pc3', 'completed'],
    ]);
    expect(result.to).toBe('pc3');
    expect(await cluster.runningOn(CONTAINER)).toEqual(['pc3']);
    await sleep(1000);
    const after = cluster.counter('pc3', CONTAINER);
    expect(after.bootId).toBe(before.bootId);
    expect(after.count).toBeGreaterThan(before.count);
    expect((await cluster.api('GET', `/v1/containers/${CONTAINER}`)).body).toMatchObject({
      nodeId: 'pc3',
      state: 'running',
    });
    const history = (await cluster.api('GET', `/v1/migrations?containerId=${CONTAINER}`)).body.migrations as {
      status: string;
      attempts: { to: string; outcome: string }[];
    }[];
    expect(history[0]).toMatchObject({
      status: 'completed',
      attempts: [
        { to: 'pc2', outcome: 'target failed' },
        { to: 'pc3', outcome: 'completed' },
      ],
    });
  });

  it('keeps the container running where it was when no target is left, and says so', async () => {
    // pc2 is dead; kill pc1 too: the only other PC is the source itself.
    await cluster.killWorker('pc1');
    const before = cluster.counter('pc3', CONTAINER);
    const err = await cluster.client.workflow
      .execute<typeof migrateContainer>('migrateContainer', migrate('pc1'))
      .catch((e: unknown) => e as { cause?: { message: string; type?: string } });
    expect((err as { cause: { type: string } }).cause.type).toBe(ErrorType.MigrationFailed);
    // pc2 may still look alive (its last load report younger than the offline threshold): then it is tried too.
    expect((err as { cause: { message: string } }).cause.message).toMatch(
      /failed after [12] target\(s\) \(pc1: target failed(, pc2: target failed)?\); it kept running on pc3/,
    );
    expect(await cluster.runningOn(CONTAINER)).toEqual(['pc3']);
    await sleep(500);
    const after = cluster.counter('pc3', CONTAINER);
    expect([after.bootId, after.count > before.count]).toEqual([before.bootId, true]);
    expect((await cluster.api('GET', `/v1/containers/${CONTAINER}`)).body).toMatchObject({
      nodeId: 'pc3',
      state: 'running',
    });
    // Each workflow run keeps its own record (run ids are time-ordered: a prefix would repeat).
    const history = (await cluster.api('GET', `/v1/migrations?containerId=${CONTAINER}`)).body.migrations as {
      id: string;
      status: string;
    }[];
    expect(history.map((m) => m.status)).toEqual(['failed', 'completed', 'failed']);
    expect(new Set(history.map((m) => m.id)).size).toBe(3);
  });
});
