// The cluster on Temporal's own server (issue 32 part 1): `--temporal server` runs the full Temporal server built
// from its Go module (infra/temporal-server/) on the cluster's PostgreSQL, with mutual TLS and Zanshin's authorizer.
// On it: redis moves pc1 -> pc2 -> pc1 keeping its DEBUG DIGEST; a target whose worker crashes after the checkpoint
// is replaced; a PC powering off is evacuated by zanshin-power-off with the PC's own certificate; the Web UI beside
// it reads histories. And the authorizer: a PC polls only its own task queue, starts nothing, and is cut off when its
// credential is revoked.
import { Connection } from '@temporalio/client';
import execa from 'execa';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../common/paths';
import type { ContainerNetwork } from '../../domain/container-network';
import { RedisLanClient } from '../../infra/demo/lan-client';
import { ensureDebianRootfs, REDIS_ROOTFS } from '../../infra/images/debian-rootfs';
import { GATE_SERVER_NAME } from '../../infra/cluster/pki';
import { planCluster } from '../../infra/cluster/plan';
import { payloadKeyFile } from '../../infra/cluster/secrets';
import type { migrateContainer } from '../../workflows';
import { LiveCluster } from '../helpers/live-cluster';
import { TEST_PREFIX } from '../helpers/names';
import { CONTROL_TASK_QUEUE, migrationWorkflowId } from '../../common/names';

const cluster = new LiveCluster();
const REDIS = `${TEST_PREFIX}-tsrv`;
let client: RedisLanClient;
let digest = '';

beforeAll(async () => {
  await Promise.all([cluster.start('10.96.0', 3, { temporal: 'server' }), ensureDebianRootfs(REDIS_ROOTFS)]);
}, 300_000);
afterAll(async () => {
  client?.close();
  await cluster.stop();
}, 120_000);

const pki = () => path.join(planCluster(cluster.config).paths.secrets, 'pki');

/** A connection to the server as PC `node` (its own certificate), from this host. */
function connectAs(node: string): Promise<Connection> {
  return Connection.connect({
    address: `127.0.0.1:${cluster.config.temporalPort}`,
    connectTimeout: '5s',
    tls: {
      serverNameOverride: GATE_SERVER_NAME,
      serverRootCACertificate: readFileSync(path.join(pki(), 'ca.crt')),
      clientCertPair: {
        crt: readFileSync(path.join(pki(), 'nodes', `${node}.crt`)),
        key: readFileSync(path.join(pki(), 'nodes', `${node}.key`)),
      },
    },
  });
}

/** A long poll the authorizer let through: it ended empty, or at the test's deadline. */
const PASSED = /^(ok|4: )/;

/** How a call ends: 'ok', or its gRPC code and message (7: permission denied, 4: deadline exceeded). */
async function outcome(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return 'ok';
  } catch (err) {
    const e = err as { code?: number; details?: string; message: string };
    return `${e.code ?? '?'}: ${e.details ?? e.message}`;
  }
}

const poll = (connection: Connection, queue: string) =>
  connection.withDeadline(Date.now() + 5_000, () =>
    connection.workflowService.pollActivityTaskQueue({
      namespace: 'default',
      taskQueue: { name: queue },
      identity: 'temporal-server.test',
    }),
  );

it('moves redis pc1 -> pc2 -> pc1 on the full server, keeping its data and its client connection', async () => {
  const rootfs = await ensureDebianRootfs(REDIS_ROOTFS);
  const args = ['/usr/bin/redis-server', '/etc/redis.conf', '--save', ''];
  expect(
    (await cluster.api('POST', '/v1/containers', { id: REDIS, args, memoryMiB: 256, rootfs: { dir: rootfs } })).status,
  ).toBe(201);
  const started = await cluster.api('POST', `/v1/containers/${REDIS}/start`, { nodeId: 'pc1' });
  expect(started.body).toMatchObject({ nodeId: 'pc1', state: 'running' });
  client = new RedisLanClient(
    planCluster(cluster.config).user.namespace,
    (started.body.network as ContainerNetwork).address,
  );
  await client.connected();
  expect(await client.command('DEBUG', 'POPULATE', '50000', 'key', '64')).toBe('OK');
  digest = String(await client.command('DEBUG', 'DIGEST'));
  const id = await client.command('CLIENT', 'ID');
  for (const to of ['pc2', 'pc1']) {
    const result = await cluster.migrate(REDIS, to);
    expect([result.to, await cluster.runningOn(REDIS)]).toEqual([to, [to]]);
    expect([await client.command('DEBUG', 'DIGEST'), await client.command('CLIENT', 'ID')]).toEqual([digest, id]);
    console.log(
      `full server, ${result.from} -> ${to}: downtime ${result.downtimeMs} ms, wire ${(result.wireBytes / 1e6).toFixed(2)} MB`,
    );
  }
}, 240_000);

it("serves Temporal's Web UI beside the full server, reading histories as the administrator", async () => {
  const ui = `http://127.0.0.1:${cluster.config.temporalUiPort}`;
  const page = await fetch(`${ui}/`);
  expect([page.status, page.headers.get('content-type')]).toEqual([200, expect.stringMatching(/^text\/html/)]);
  // Its API (what the page calls) lists the moves above: it reached the frontend with the admin certificate.
  const listed = await fetch(
    `${ui}/api/v1/namespaces/default/workflows?query=${encodeURIComponent('WorkflowType="migrateContainer"')}`,
  );
  expect(listed.status).toBe(200);
  const { executions } = (await listed.json()) as { executions: { execution: { workflowId: string } }[] };
  expect(executions.map((e) => e.execution.workflowId)).toContainEqual(expect.stringContaining(REDIS));
});

it('lets a PC poll only its own task queue, and start nothing', async () => {
  const pc1 = await connectAs('pc1');
  try {
    // Its own queue: past the authorizer (nothing is queued: the long poll ends empty, or at the test's deadline).
    expect(await outcome(() => poll(pc1, 'node-pc1'))).toMatch(PASSED);
    expect(await outcome(() => poll(pc1, 'node-pc2'))).toBe('7: Request unauthorized.');
    const denied = await outcome(() =>
      pc1.workflowService.startWorkflowExecution({
        namespace: 'default',
        workflowId: `${TEST_PREFIX}-pc-start`,
        workflowType: { name: 'migrateContainer' },
        taskQueue: { name: CONTROL_TASK_QUEUE },
        requestId: `${Date.now()}`,
      }),
    );
    expect(denied).toMatch(/^7: /);
    // Nor signal another PC's lifecycle workflow, nor read the migrations.
    expect(
      await outcome(() =>
        pc1.workflowService.describeWorkflowExecution({
          namespace: 'default',
          execution: { workflowId: migrationWorkflowId(REDIS) },
        }),
      ),
    ).toMatch(/^7: /);
  } finally {
    await pc1.close();
  }
});

it('replaces a target whose worker crashes after the checkpoint, and the move completes elsewhere', async () => {
  expect(await cluster.runningOn(REDIS)).toEqual(['pc1']);
  const handle = await cluster.client.workflow.start<typeof migrateContainer>('migrateContainer', {
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: migrationWorkflowId(REDIS),
    args: [{ containerId: REDIS, to: 'pc2', reason: 'test' }],
  });
  await cluster.waitForStep(handle.workflowId, 'checkpoint');
  await cluster.killWorker('pc2');
  const result = await handle.result();
  expect(result.attempts.map((a) => [a.to, a.outcome])).toEqual([
    ['pc2', 'target failed'],
    ['pc3', 'completed'],
  ]);
  expect(await cluster.runningOn(REDIS)).toEqual(['pc3']);
  expect(await client.command('DEBUG', 'DIGEST')).toBe(digest);
}, 180_000);

it("evacuates a PC that powers off, through zanshin-power-off with that PC's own certificate", async () => {
  expect(await cluster.runningOn(REDIS)).toEqual(['pc3']);
  const run = await execa(process.execPath, [path.join(REPO_ROOT, 'dist', 'workers', 'power-off.js')], {
    reject: false,
    timeout: 120_000,
    env: {
      ...process.env,
      ZANSHIN_NODE_ID: 'pc3',
      TEMPORAL_ADDRESS: `127.0.0.1:${cluster.config.temporalPort}`,
      TEMPORAL_TLS_CA: path.join(pki(), 'ca.crt'),
      TEMPORAL_TLS_CERT: path.join(pki(), 'nodes', 'pc3.crt'),
      TEMPORAL_TLS_KEY: path.join(pki(), 'nodes', 'pc3.key'),
      ZANSHIN_PAYLOAD_KEY_FILE: payloadKeyFile(planCluster(cluster.config).paths.secrets),
      ZANSHIN_EVACUATION_DEADLINE: '60',
    },
  });
  expect([run.exitCode, run.stderr]).toEqual([0, '']);
  expect(run.stdout).toMatch(/containers of pc3 evacuated/);
  // pc2's worker is dead since the test before: pc1 is the one place left.
  expect(await cluster.runningOn(REDIS)).toEqual(['pc1']);
  expect(await client.command('DEBUG', 'DIGEST')).toBe(digest);
}, 180_000);

it('cuts a PC off once its credential is revoked, while the others go on', async () => {
  expect((await cluster.api('DELETE', '/v1/nodes/pc2/credential')).status).toBe(204);
  const pc2 = await connectAs('pc2');
  const pc1 = await connectAs('pc1');
  try {
    // The server looks the credential up at most 2 s late.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await outcome(() => poll(pc2, 'node-pc2'))).toMatch(/^7: /);
    expect(await outcome(() => poll(pc1, 'node-pc1'))).toMatch(PASSED);
  } finally {
    await Promise.all([pc2.close(), pc1.close()]);
  }
});
