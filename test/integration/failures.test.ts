// Failure semantics of migrateContainer on the real cluster: node workers are killed with SIGKILL mid-migration.
import { Client, Connection } from '@temporalio/client';
import execa from 'execa';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { CONTROL_TASK_QUEUE } from '../../common/names';
import { ClusterConfig } from '../../infra/cluster/config';
import { startCluster, stopCluster } from '../../infra/cluster/cluster';
import { planCluster } from '../../infra/cluster/plan';
import { isRunning, ProcessRecord } from '../../infra/cluster/processes';
import { readState } from '../../infra/cluster/state';
import { ensureCounterRootfs } from '../../infra/images/counter';
import type { migrateContainer } from '../../workflows';
import type { MigrationResult } from '../../workflows/migrate-container';
import { testClusterConfig } from '../helpers/cluster';
import { TEST_PREFIX } from '../helpers/names';

const CONTAINER = `${TEST_PREFIX}-fail`;
let config: ClusterConfig;
let connection: Connection;
let client: Client;
let nodeDirs: Record<string, string>;
let api: (method: string, route: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> }>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const timeouts = { answerSeconds: 5, heartbeatSeconds: 5 };

async function runningOn(): Promise<string[]> {
  const on: string[] = [];
  for (const [node, dir] of Object.entries(nodeDirs)) {
    const r = await execa('runc', ['--root', path.join(dir, 'runc'), 'state', CONTAINER], { reject: false });
    if (r.exitCode === 0 && (JSON.parse(r.stdout) as { status: string }).status === 'running') on.push(node);
  }
  return on;
}

function counter(node: string): { bootId: string; count: number } {
  const [bootId, count] = readFileSync(path.join(nodeDirs[node]!, 'store', 'containers', CONTAINER, 'bundle', 'rootfs', 'data', 'counter'), 'utf8').trim().split(' ');
  return { bootId: bootId!, count: Number(count) };
}

/** SIGKILLs a PC's node worker, as a PC switched off would leave it. */
async function killWorker(node: string): Promise<void> {
  const worker = readState(planCluster(config).paths.state)!.processes.find((p) => p.name === `${node}/node-worker`) as ProcessRecord;
  process.kill(worker.pid, 'SIGKILL');
  while (isRunning(worker)) await sleep(20);
}

beforeAll(async () => {
  // A slow link, so that a worker can be killed while a checkpoint is on its way.
  config = await testClusterConfig('10.82.0', { linkRate: '100mbit' }, 3);
  await startCluster(config, () => undefined);
  nodeDirs = Object.fromEntries(planCluster(config).nodes.map((n) => [n.id, n.dataDir]));
  connection = await Connection.connect({ address: `127.0.0.1:${config.temporalPort}` });
  client = new Client({ connection, namespace: 'default' });
  const token = readFileSync(path.join(planCluster(config).paths.secrets, 'admin-token'), 'utf8').trim();
  api = async (method, route, body) => {
    const res = await fetch(`http://127.0.0.1:${config.apiPort}${route}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
}, 180_000);

afterAll(async () => {
  for (const dir of Object.values(nodeDirs ?? {})) await execa('runc', ['--root', path.join(dir, 'runc'), 'delete', '--force', CONTAINER], { reject: false });
  await connection?.close();
  if (config) {
    await stopCluster(config, () => undefined);
    rmSync(config.dataDir, { recursive: true, force: true });
  }
});

describe('migrateContainer when PCs die', () => {
  it('restores the container on its source when the restore fails on the target', async () => {
    const rootfs = await ensureCounterRootfs();
    expect((await api('POST', '/v1/containers', { id: CONTAINER, args: ['/bin/counter'], env: ['MIB=96', 'DIRTY_PAGES_PER_SEC=20'], memoryMiB: 128, rootfs: { dir: rootfs } })).status).toBe(201);
    expect((await api('POST', `/v1/containers/${CONTAINER}/start`, { nodeId: 'pc1' })).body).toMatchObject({ nodeId: 'pc1', state: 'running' });
    await sleep(1500);
    const before = counter('pc1');
    // pc2 can receive but not write the container's files: its restore step fails (not its PC).
    const blocked = path.join(nodeDirs.pc2!, 'store', 'containers', CONTAINER);
    mkdirSync(blocked, { recursive: true });
    await execa('chattr', ['+i', blocked]);
    try {
      const err = await client.workflow.execute<typeof migrateContainer>('migrateContainer', {
        taskQueue: CONTROL_TASK_QUEUE, workflowId: `migrate-${CONTAINER}`, args: [{ containerId: CONTAINER, to: 'pc2', reason: 'test', timeouts }],
      }).catch((e: unknown) => e as { cause: { type: string; message: string } });
      expect((err as { cause: { type: string } }).cause.type).toBe('MigrationFailed');
      expect((err as { cause: { message: string } }).cause.message).toMatch(/\(pc2: failed\); it runs again on pc1 from generation \d+/);
    } finally {
      await execa('chattr', ['-i', blocked]);
    }
    expect(await runningOn()).toEqual(['pc1']);
    await sleep(1000);
    const after = counter('pc1');
    expect([after.bootId, after.count > before.count]).toEqual([before.bootId, true]);
    expect((await api('GET', `/v1/containers/${CONTAINER}`)).body).toMatchObject({ nodeId: 'pc1', state: 'running' });
  });

  it('resends the checkpoint to another PC when the target dies after the checkpoint', async () => {
    const before = counter('pc1');

    const handle = await client.workflow.start<typeof migrateContainer>('migrateContainer', {
      taskQueue: CONTROL_TASK_QUEUE, workflowId: `migrate-${CONTAINER}`, args: [{ containerId: CONTAINER, to: 'pc2', reason: 'test', timeouts }],
    });
    // Kill pc2's worker (and with it its data plane) as soon as the source has checkpointed.
    for (;;) {
      const progress = await handle.query<{ steps: { step: string }[] }>('progress');
      if (progress.steps.some((s) => s.step === 'checkpoint')) break;
      await sleep(50);
    }
    await killWorker('pc2');
    const result: MigrationResult = await handle.result();

    expect(result.attempts.map((a) => [a.to, a.outcome])).toEqual([['pc2', 'target failed'], ['pc3', 'completed']]);
    expect(result.to).toBe('pc3');
    expect(await runningOn()).toEqual(['pc3']);
    await sleep(1000);
    const after = counter('pc3');
    expect(after.bootId).toBe(before.bootId);
    expect(after.count).toBeGreaterThan(before.count);
    const stored = await api('GET', `/v1/containers/${CONTAINER}`);
    expect(stored.body).toMatchObject({ nodeId: 'pc3', state: 'running' });
    const history = (await api('GET', `/v1/migrations?containerId=${CONTAINER}`)).body.migrations as { status: string; attempts: { to: string; outcome: string }[] }[];
    expect(history[0]).toMatchObject({ status: 'completed', attempts: [{ to: 'pc2', outcome: 'target failed' }, { to: 'pc3', outcome: 'completed' }] });
  });

  it('keeps the container running where it was when no target is left, and says so', async () => {
    // pc2 is dead; kill pc1 too: the only other PC is the source itself.
    await killWorker('pc1');
    const before = counter('pc3');
    const err = await client.workflow.execute<typeof migrateContainer>('migrateContainer', {
      taskQueue: CONTROL_TASK_QUEUE, workflowId: `migrate-${CONTAINER}`, args: [{ containerId: CONTAINER, to: 'pc1', reason: 'test', timeouts }],
    }).catch((e: unknown) => e as { cause?: { message: string; type?: string } });
    expect((err as { cause: { type: string } }).cause.type).toBe('MigrationFailed');
    // pc2 may still look alive (its last load report younger than the offline threshold): then it is tried too.
    expect((err as { cause: { message: string } }).cause.message)
      .toMatch(/failed after [12] target\(s\) \(pc1: target failed(, pc2: target failed)?\); it kept running on pc3/);
    expect(await runningOn()).toEqual(['pc3']);
    await sleep(500);
    const after = counter('pc3');
    expect([after.bootId, after.count > before.count]).toEqual([before.bootId, true]);
    expect((await api('GET', `/v1/containers/${CONTAINER}`)).body).toMatchObject({ nodeId: 'pc3', state: 'running' });
    // Each workflow run keeps its own record (run ids are time-ordered: a prefix would repeat).
    const history = (await api('GET', `/v1/migrations?containerId=${CONTAINER}`)).body.migrations as { id: string; status: string }[];
    expect(history.map((m) => m.status)).toEqual(['failed', 'completed', 'failed']);
    expect(new Set(history.map((m) => m.id)).size).toBe(3);
  });
});
