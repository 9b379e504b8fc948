// A workflow on a real Temporal dev server reaches a node worker that runs inside a network namespace.
import { WorkflowFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { CONTROL_TASK_QUEUE } from '../../common/names';
import { nodeWorkerArgv } from '../../infra/cluster/cluster';
import { deleteNamespaces, runCommands } from '../../infra/cluster/netns';
import { isRunning, logTail, ProcessRecord, spawnDetached, stopProcess } from '../../infra/cluster/processes';
import { hostRelayArgv, inNamespace, namespaceRelayArgv } from '../../infra/cluster/relays';
import { activityPollers } from '../../infra/cluster/temporal-client';
import { waitFor } from '../../infra/cluster/wait';
import type { probeNode } from '../../workflows';
import { TEST_PREFIX } from '../helpers/names';
import { bundleWorkflows, startTestTemporal } from '../helpers/temporal';
import { ErrorType } from '../../common/errors';

const NODE_ID = 'pc1';
const NAMESPACE = `${TEST_PREFIX}-${NODE_ID}`;
const ADDRESS = '10.78.0.11';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let dir: string;
const processes: ProcessRecord[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-nw-'));
  [env, bundle] = await Promise.all([startTestTemporal(), bundleWorkflows()]);
  const port = Number(env.address.split(':').pop());
  // One simulated PC: its own namespace and LAN address, Temporal reachable only through the relays.
  await runCommands([
    ['ip', 'netns', 'add', NAMESPACE],
    ['ip', '-n', NAMESPACE, 'link', 'set', 'lo', 'up'],
    ['ip', '-n', NAMESPACE, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0-peer'],
    ['ip', '-n', NAMESPACE, 'addr', 'add', `${ADDRESS}/24`, 'dev', 'eth0'],
    ['ip', '-n', NAMESPACE, 'link', 'set', 'eth0', 'up'],
    ['ip', '-n', NAMESPACE, 'link', 'set', 'eth0-peer', 'up'], // without carrier, the address is not listed
  ]);
  const socket = path.join(dir, 'temporal.sock');
  const log = (name: string) => path.join(dir, `${name}.log`);
  processes.push(spawnDetached('host-relay', hostRelayArgv(socket, port), { log: log('host-relay') }));
  processes.push(spawnDetached('ns-relay', namespaceRelayArgv(NAMESPACE, port, socket), { log: log('ns-relay') }));
  const worker = spawnDetached('node-worker', inNamespace(NAMESPACE, nodeWorkerArgv()), {
    log: log('node-worker'),
    env: {
      ZANSHIN_NODE_ID: NODE_ID,
      ZANSHIN_NODE_DATA_DIR: path.join(dir, 'node'),
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      TEMPORAL_NAMESPACE: 'default',
    },
  });
  processes.push(worker);
  await waitFor(
    'the node worker to poll node-pc1',
    async () => (await activityPollers(env.client, 'node-pc1')) > 0,
    60_000,
    () => (isRunning(worker) ? null : `node worker exited:\n${logTail(worker.log)}`),
  );
});

afterAll(async () => {
  for (const p of processes.reverse()) await stopProcess(p, 5_000);
  await deleteNamespaces([NAMESPACE]);
  await env?.teardown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function withControlWorker<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: `${CONTROL_TASK_QUEUE}-${name}`,
    workflowBundle: bundle,
  });
  return worker.runUntil(fn());
}

describe('probeNode', () => {
  it('runs its activity on the PC inside its network namespace and returns its identity and load', async () => {
    const result = await withControlWorker('ok', () =>
      env.client.workflow.execute<typeof probeNode>('probeNode', {
        taskQueue: `${CONTROL_TASK_QUEUE}-ok`,
        workflowId: `${TEST_PREFIX}-probe-ok`,
        args: [{ nodeId: NODE_ID }],
      }),
    );
    expect(result.nodeId).toBe(NODE_ID);
    expect(result.networkNamespace).toBe(NAMESPACE);
    expect(result.addresses).toEqual([ADDRESS]);
    expect(result.load.cpu).toBeGreaterThanOrEqual(0);
    expect(result.load.cpu).toBeLessThanOrEqual(1);
    expect(result.load.memory).toBeGreaterThan(0);
    expect(result.load.memory).toBeLessThan(1);
    expect(result.cpuCores).toBeGreaterThan(0);
  });

  it("fails as NodeUnreachable, naming the queue, when no worker polls the PC's queue", async () => {
    const err = await withControlWorker('dead', () =>
      env.client.workflow.execute<typeof probeNode>('probeNode', {
        taskQueue: `${CONTROL_TASK_QUEUE}-dead`,
        workflowId: `${TEST_PREFIX}-probe-dead`,
        args: [{ nodeId: 'pc9', timeoutSeconds: 2 }],
      }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe(ErrorType.NodeUnreachable);
    expect(cause.message).toMatch(/PC pc9 did not answer on task queue node-pc9 within 2s/);
  });

  it('refuses a malformed node id as InvalidInput without retrying', async () => {
    const err = await withControlWorker('bad', () =>
      env.client.workflow.execute<typeof probeNode>('probeNode', {
        taskQueue: `${CONTROL_TASK_QUEUE}-bad`,
        workflowId: `${TEST_PREFIX}-probe-bad`,
        args: [{ nodeId: '../etc' }],
      }),
    ).catch((e: unknown) => e);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe(ErrorType.InvalidInput);
    expect(cause.message).toMatch(/probeNode needs input \{"nodeId": "<id>"\}/);
  });
});
