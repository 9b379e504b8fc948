// Workflow logic against stub activities: the real workflow bundle on a real Temporal dev server (from the Temporal
// CLI the provisioning built), but PCs and the control plane are in-memory stubs. Needs no root; runs in seconds.
// Each test has its own control task queue and PC ids, so nothing leaks between tests.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ErrorType } from '../../common/errors';
import { migrationWorkflowId, nodeLifecycleWorkflowId } from '../../common/names';
import type { migrateContainer, nodeLifecycle, rebalance, recoverCrashedNodes } from '../../workflows';
import type { EvacuationReport } from '../../workflows/node-lifecycle';
import { failures, StubCluster } from '../helpers/stub-cluster';
import { bundleWorkflows, startTestTemporal } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  [env, bundle] = await Promise.all([startTestTemporal(), bundleWorkflows()]);
}, 60_000);
afterAll(async () => {
  await env?.teardown();
});

const timeouts = { answerSeconds: 2, heartbeatSeconds: 5 };
let testNo = 0;
/** A control task queue and PC ids of this test's own. */
function ids(n: number): { queue: string; pcs: string[] } {
  testNo++;
  return {
    queue: `wf-test-${testNo}-${Date.now()}`,
    pcs: Array.from({ length: n }, (_, i) => `t${testNo}x${Date.now().toString(36)}-pc${i + 1}`),
  };
}

async function migrate(stub: StubCluster, queue: string, containerId: string, to?: string) {
  return stub.run(env, bundle, queue, () =>
    env.client.workflow.execute<typeof migrateContainer>('migrateContainer', {
      taskQueue: queue,
      workflowId: `${migrationWorkflowId(containerId)}-${queue}`,
      args: [{ containerId, ...(to ? { to } : {}), reason: 'test', timeouts }],
    }),
  );
}
const failureOf = (err: unknown) => (err as { cause: { type: string; message: string } }).cause;

describe('migrateContainer (stub activities)', () => {
  it("refuses a named target whose CPU lacks instructions of the source's, before any PC does anything", async () => {
    const {
      queue,
      pcs: [src, guest],
    } = ids(2);
    const stub = new StubCluster(
      { [src!]: {}, [guest!]: {} },
      { c1: { nodeId: src!, state: 'running', memoryMiB: 64 } },
    );
    stub.cpuRefuses[guest!] = `the CPU of ${guest} lacks avx2, which ${src}'s CPU has`;
    const err = await migrate(stub, queue, 'c1', guest).then(
      () => null,
      (e: unknown) => e,
    );
    expect(failureOf(err)).toMatchObject({ type: 'NoTarget' });
    expect(failureOf(err).message).toContain('lacks avx2');
    expect(stub.calls).toEqual([]);
  });

  it("tells the source's every dump which kernel files the target lacks (their mounts stay out of the image)", async () => {
    const {
      queue,
      pcs: [src, host],
    } = ids(2);
    const stub = new StubCluster(
      { [src!]: {}, [host!]: { absentKernelPaths: ['/proc/sysrq-trigger', '/proc/kcore'] } },
      { c1: { nodeId: src!, state: 'running', memoryMiB: 64 } },
    );
    await migrate(stub, queue, 'c1', host);
    expect(stub.checkpointInputs.length).toBeGreaterThan(0);
    for (const i of stub.checkpointInputs) expect(i.targetLacks).toEqual(['/proc/sysrq-trigger', '/proc/kcore']);
  });

  it('replaces a target that is dead before the checkpoint, and checkpoints once', async () => {
    const {
      queue,
      pcs: [src, dead, next],
    } = ids(3);
    const stub = new StubCluster(
      { [src!]: {}, [dead!]: { dead: true }, [next!]: {} },
      { c1: { nodeId: src!, state: 'running', memoryMiB: 64 } },
    );
    stub.preference = [dead!, next!];
    const result = await migrate(stub, queue, 'c1');
    expect(result.attempts.map((a) => [a.to, a.outcome])).toEqual([
      [dead, 'target failed'],
      [next, 'completed'],
    ]);
    expect(stub.checkpointed).toEqual(['c1']);
    // The target (holding nothing of it) writes the running rootfs before the freeze, takes the address over beside
    // the transfer (after the source stopped), then restores.
    expect(stub.on(next!)).toEqual(['prepareReceive', 'applyRunningBundle', 'takeOverAddress', 'restoreFromTransfer']);
    // No remnant on the target and a container of unknown size: one pre-copy round (the stub's transfers are tiny,
    // so one is enough) before the freeze.
    const calls = stub.on(src!);
    expect(calls.slice(0, 5)).toEqual([
      'syncBundle',
      'containerState',
      'checkpointContainer',
      'sendCheckpoint',
      'checkpointContainer',
    ]);
    // After the freeze, the frozen rootfs and the pages go side by side.
    expect(calls.slice(5, 7).sort()).toEqual(['sendCheckpoint', 'syncBundle']);
    expect(calls.slice(7)).toEqual(['leaveRemnant']);
    expect(result.preCopy).toEqual([{ generation: 1, pages: 10, frozenMs: 1, wireBytes: 100, transferMs: 1 }]);
    expect(result.generation).toBe(2);
    // The final dump supersedes the pre-copy round on the source (the target held nothing before).
    expect(stub.checkpointInputs.map((i) => [i.leaveRunning, i.supersedes])).toEqual([
      [true, []],
      [false, [1]],
    ]);
    expect(stub.containers.c1).toMatchObject({ nodeId: next, state: 'running' });
  });

  it('does not pre-copy a container too small for it to pay, and does for a large one', async () => {
    const {
      queue,
      pcs: [small, big, to],
    } = ids(3);
    const stub = new StubCluster(
      { [small!]: { containerMemoryBytes: 64 << 20 }, [big!]: { containerMemoryBytes: 1 << 30 }, [to!]: {} },
      {
        c1: { nodeId: small!, state: 'running', memoryMiB: 96 },
        c2: { nodeId: big!, state: 'running', memoryMiB: 1100 },
      },
    );
    stub.preference = [to!];
    const smallMove = await migrate(stub, queue, 'c1');
    expect(smallMove.preCopy ?? []).toEqual([]); // a move without pre-copy reports none
    expect(stub.on(small!).filter((c) => c === 'checkpointContainer')).toHaveLength(1);
    const bigMove = await migrate(stub, queue, 'c2');
    expect(bigMove.preCopy).toHaveLength(1);
    expect(stub.on(big!).filter((c) => c === 'checkpointContainer')).toHaveLength(2);
    // The round is a live copy (nothing frozen); the final checkpoint a dump.
    expect(stub.checkpointInputs.filter((i) => i.containerId === 'c2').map((i) => i.live ?? false)).toEqual([
      true,
      false,
    ]);
    expect(bigMove.freezes!.map((f) => f.kind)).toEqual(['pre-copy 1', 'move']);
  });

  it('resends the same checkpoint to another target when the target dies after the checkpoint', async () => {
    const {
      queue,
      pcs: [src, dying, next],
    } = ids(3);
    const stub = new StubCluster(
      {
        [src!]: {
          fails: {
            sendCheckpoint: (i) =>
              i.target?.address.startsWith(`${dying}:`)
                ? failures.unreachable(`${dying} data plane does not answer`)()
                : undefined,
          },
        },
        [dying!]: { holds: [1] }, // a remnant there: no pre-copy, the first send is the final checkpoint's
        [next!]: {},
      },
      { c1: { nodeId: src!, state: 'running', memoryMiB: 64 } },
    );
    stub.preference = [dying!, next!];
    const result = await migrate(stub, queue, 'c1');
    expect(result.attempts.map((a) => [a.to, a.outcome])).toEqual([
      [dying, 'target failed'],
      [next, 'completed'],
    ]);
    expect(stub.checkpointed).toEqual(['c1']); // taken once, sent twice
    // The dump supersedes on the source what the first target held.
    expect(stub.checkpointInputs.map((i) => i.supersedes)).toEqual([[1]]);
    expect(stub.on(src!).filter((a) => a === 'sendCheckpoint')).toHaveLength(2);
    expect(stub.on(dying!)).toContain('abortReceive');
    // A remnant's rootfs is left as its checkpoints saw it until the freeze.
    expect(stub.on(dying!)).not.toContain('applyRunningBundle');
    expect(result.generation).toBe(1);
    expect(stub.containers.c1).toMatchObject({ nodeId: next, state: 'running' });
  });

  it('puts the container back on its source when the target refuses the restore', async () => {
    const {
      queue,
      pcs: [src, tgt],
    } = ids(2);
    const stub = new StubCluster(
      { [src!]: {}, [tgt!]: { fails: { restoreFromTransfer: failures.refused('runc restore failed') } } },
      { c1: { nodeId: src!, state: 'running', memoryMiB: 64 } },
    );
    const err = await migrate(stub, queue, 'c1', tgt).catch((e: unknown) => e);
    expect(failureOf(err).type).toBe(ErrorType.MigrationFailed);
    expect(failureOf(err).message).toMatch(
      new RegExp(
        // generation 1 was the pre-copy round, taken while it kept running
        `\\(${tgt}: failed\\); it runs again on ${src} from generation 2\\. Last error: restore on ${tgt}: runc restore failed`,
      ),
    );
    expect(stub.on(src!)).toContain('restoreLocal');
    expect(stub.ended).toEqual([expect.objectContaining({ status: 'failed', nodeId: src, containerState: 'running' })]);
  });

  // Issue 28, hazard 4: a target whose restore failed may run the copy all the same (its answer lost): it is evicted
  // before the container runs again anywhere, and every restore runs a new copy under a new epoch.
  it('evicts the copy a failed restore may have left on the target before the source runs it again, each under a new epoch', async () => {
    const {
      queue,
      pcs: [src, tgt],
    } = ids(2);
    const stub = new StubCluster(
      { [src!]: {}, [tgt!]: { fails: { restoreFromTransfer: failures.refused('answer lost') } } },
      { c3: { nodeId: src!, state: 'running', memoryMiB: 64 } },
    );
    await migrate(stub, queue, 'c3', tgt).catch((e: unknown) => e);
    const order = (call: string) => stub.calls.indexOf(call);
    expect(order(`${tgt}:leaveRemnant`)).toBeGreaterThan(order(`${tgt}:restoreFromTransfer`));
    expect(order(`${tgt}:leaveRemnant`)).toBeLessThan(order(`${src}:restoreLocal`));
    expect(stub.epochs.c3).toBe(2); // the target's restore, then the source's
  });

  // Found by the soak: a source that lost the container (powered off and back) refuses the dump; the migration used to
  // record it as still running there, and nothing brought it back.
  it('records a container its source no longer runs as lost, not as running there', async () => {
    const {
      queue,
      pcs: [src, tgt],
    } = ids(2);
    const stub = new StubCluster(
      {
        [src!]: {
          lostContainers: true,
          fails: { checkpointContainer: failures.refused('container c4 is absent, not running') },
        },
        [tgt!]: {},
      },
      { c4: { nodeId: src!, state: 'running', memoryMiB: 64 } },
    );
    const err = await migrate(stub, queue, 'c4', tgt).catch((e: unknown) => e);
    expect(failureOf(err).message).toMatch(`${src} no longer runs it (absent): crash recovery brings it back`);
    expect(stub.ended).toEqual([expect.objectContaining({ status: 'failed', nodeId: src, containerState: 'lost' })]);
  });

  it('restores from the newest checkpoint a live PC holds when the source is gone too', async () => {
    const {
      queue,
      pcs: [src, tgt, holder],
    } = ids(3);
    const stub = new StubCluster(
      {
        [src!]: { fails: { restoreLocal: failures.refused('source lost its disk') } },
        [tgt!]: { fails: { restoreFromTransfer: failures.refused('runc restore failed') } },
        [holder!]: {},
      },
      { c1: { nodeId: src!, state: 'running', memoryMiB: 64 } },
    );
    stub.holder = { nodeId: holder!, generation: 7 };
    const err = await migrate(stub, queue, 'c1', tgt).catch((e: unknown) => e);
    expect(failureOf(err).message).toMatch(
      `${src} could not restore it (source lost its disk); it runs on ${holder} from generation 7`,
    );
    expect(stub.on(holder!)).toEqual(['restoreLocal']);
    expect(stub.containers.c1).toMatchObject({ nodeId: holder, state: 'running' });
  });

  it('leaves the container lost (crash recovery tries again) when neither the source nor a holder restores it', async () => {
    const {
      queue,
      pcs: [src, tgt, holder],
    } = ids(3);
    const stub = new StubCluster(
      {
        [src!]: { fails: { restoreLocal: failures.refused('source lost its disk') } },
        [tgt!]: { fails: { restoreFromTransfer: failures.refused('runc restore failed') } },
        [holder!]: { fails: { restoreLocal: failures.refused('chunk damaged') } },
      },
      { c1: { nodeId: src!, state: 'running', memoryMiB: 64 } },
    );
    stub.holder = { nodeId: holder!, generation: 7 };
    const err = await migrate(stub, queue, 'c1', tgt).catch((e: unknown) => e);
    expect(failureOf(err).message).toMatch(/nor could another PC \(chunk damaged\).*crash recovery tries again/);
    // The holder's restore may have run it all the same (its answer lost): removed there before anything else.
    expect(stub.on(holder!)).toEqual(['restoreLocal', 'leaveRemnant']);
    expect(stub.containers.c1).toMatchObject({ nodeId: src, state: 'lost' });
  });

  it('says NoTarget and changes nothing when no PC can take the container', async () => {
    const {
      queue,
      pcs: [src],
    } = ids(1);
    const stub = new StubCluster({ [src!]: {} }, { c1: { nodeId: src!, state: 'running', memoryMiB: 64 } });
    const err = await migrate(stub, queue, 'c1').catch((e: unknown) => e);
    expect(failureOf(err)).toMatchObject({ type: ErrorType.NoTarget, message: 'no PC can take it (stub)' });
    expect(stub.calls).toEqual([]);
    expect(stub.containers.c1).toMatchObject({ nodeId: src, state: 'running' });
  });

  it('keeps the container running on its source when its only target dies before the checkpoint', async () => {
    const {
      queue,
      pcs: [src, dead],
    } = ids(2);
    const stub = new StubCluster(
      { [src!]: {}, [dead!]: { dead: true } },
      { c1: { nodeId: src!, state: 'running', memoryMiB: 64 } },
    );
    const err = await migrate(stub, queue, 'c1', dead).catch((e: unknown) => e);
    expect(failureOf(err).message).toMatch(`(${dead}: target failed); it kept running on ${src}`);
    expect(stub.checkpointed).toEqual([]);
    expect(stub.ended).toEqual([expect.objectContaining({ status: 'failed', nodeId: src, containerState: 'running' })]);
  });

  it('refuses invalid input without retrying', async () => {
    const {
      queue,
      pcs: [src],
    } = ids(1);
    const stub = new StubCluster({ [src!]: {} }, {});
    const err = await migrate(stub, queue, 'Not An Id').catch((e: unknown) => e);
    expect(failureOf(err).type).toBe(ErrorType.InvalidInput);
    expect(stub.calls).toEqual([]);
  });
});

describe('nodeLifecycle evacuation (stub activities)', () => {
  async function evacuate(
    stub: StubCluster,
    queue: string,
    nodeId: string,
    deadlineSeconds: number,
    parallel: number,
  ): Promise<EvacuationReport> {
    return stub.run(env, bundle, queue, async () => {
      const handle = await env.client.workflow.signalWithStart<
        typeof nodeLifecycle,
        [{ deadlineSeconds: number; reason: string }]
      >('nodeLifecycle', {
        taskQueue: queue,
        workflowId: `${nodeLifecycleWorkflowId(nodeId)}-${queue}`,
        args: [{ nodeId, parallel, timeouts }],
        signal: 'shutdown',
        signalArgs: [{ deadlineSeconds, reason: 'power-off' }],
      });
      try {
        for (;;) {
          const status = await handle.query<{ evacuations: EvacuationReport[] }>('status');
          const done = status.evacuations.find((e) => e.finishedAt !== null);
          if (done) return done;
          await new Promise((r) => setTimeout(r, 200));
        }
      } finally {
        await handle.terminate('test over');
      }
    });
  }

  it('moves the containers holding the most memory first, all of them before the deadline', async () => {
    const {
      queue,
      pcs: [pc, other],
    } = ids(2);
    const stub = new StubCluster(
      { [pc!]: {}, [other!]: {} },
      {
        small: { nodeId: pc!, state: 'running', memoryMiB: 100 },
        big: { nodeId: pc!, state: 'running', memoryMiB: 300 },
        mid: { nodeId: pc!, state: 'running', memoryMiB: 200 },
      },
    );
    const report = await evacuate(stub, queue, pc!, 60, 1);
    expect(stub.checkpointed).toEqual(['big', 'mid', 'small']);
    // A minute to go: no pre-copy rounds, one checkpoint per container, the PC is free sooner.
    expect(stub.on(pc!).filter((c) => c === 'checkpointContainer')).toHaveLength(3);
    expect(report.containers.map((c) => [c.containerId, c.outcome, c.to])).toEqual([
      ['big', 'moved', other],
      ['mid', 'moved', other],
      ['small', 'moved', other],
    ]);
  });

  it('pre-copies during an evacuation only when the deadline is far', async () => {
    const {
      queue,
      pcs: [pc, other],
    } = ids(2);
    const stub = new StubCluster(
      { [pc!]: { containerMemoryBytes: 1 << 30 }, [other!]: {} },
      { far: { nodeId: pc!, state: 'running', memoryMiB: 1100 } },
    );
    const report = await evacuate(stub, queue, pc!, 600, 1);
    expect(report.containers.map((c) => c.outcome)).toEqual(['moved']);
    expect(stub.on(pc!).filter((c) => c === 'checkpointContainer')).toHaveLength(2); // a round, then the freeze
  });

  // Issue 28: a safety checkpoint holds migrate-<container>; an evacuation used to mark such a container "already
  // migrating", skip it, and let the PC power off with it.
  it("waits for a safety checkpoint holding a container's lock, then moves the container off", async () => {
    const {
      queue,
      pcs: [pc, other],
    } = ids(2);
    const stub = new StubCluster(
      { [pc!]: { checkpointMs: 2_000 }, [other!]: {} },
      { busy: { nodeId: pc!, state: 'running', memoryMiB: 100 } },
    );
    const report = await stub.run(env, bundle, queue, async () => {
      const safety = await env.client.workflow.start('safetyCheckpoint', {
        taskQueue: queue,
        workflowId: migrationWorkflowId('busy'),
        args: [{ containerId: 'busy', timeouts }],
      });
      await new Promise((r) => setTimeout(r, 300)); // it holds the lock, dumping
      const handle = await env.client.workflow.signalWithStart('nodeLifecycle', {
        taskQueue: queue,
        workflowId: `${nodeLifecycleWorkflowId(pc!)}-${queue}`,
        args: [{ nodeId: pc!, parallel: 1, timeouts }],
        signal: 'shutdown',
        signalArgs: [{ deadlineSeconds: 60, reason: 'power-off' }],
      });
      try {
        await safety.result();
        for (;;) {
          const status = await handle.query<{ evacuations: EvacuationReport[] }>('status');
          const done = status.evacuations.find((e) => e.finishedAt !== null);
          if (done) return done;
          await new Promise((r) => setTimeout(r, 200));
        }
      } finally {
        await handle.terminate('test over');
      }
    });
    expect(report.containers.map((c) => [c.containerId, c.outcome, c.to])).toEqual([['busy', 'moved', other]]);
    expect(stub.containers.busy).toMatchObject({ nodeId: other, state: 'running' });
  });

  it('starts no migration after the deadline, and never cuts one short', async () => {
    const {
      queue,
      pcs: [pc, other],
    } = ids(2);
    const stub = new StubCluster(
      { [pc!]: { checkpointMs: 1_500 }, [other!]: {} },
      {
        big2: { nodeId: pc!, state: 'running', memoryMiB: 300 },
        mid2: { nodeId: pc!, state: 'running', memoryMiB: 200 },
        small2: { nodeId: pc!, state: 'running', memoryMiB: 100 },
      },
    );
    const report = await evacuate(stub, queue, pc!, 1, 1);
    expect(report.containers.map((c) => [c.containerId, c.outcome])).toEqual([
      ['big2', 'moved'],
      ['mid2', 'not started (deadline passed)'],
      ['small2', 'not started (deadline passed)'],
    ]);
    expect(stub.containers.mid2).toMatchObject({ nodeId: pc, state: 'running' });
  });
});

describe('crash recovery (stub activities)', () => {
  // Issue 28, hazard 5: a recovery and a migration (or safety checkpoint) of one container at once.
  it('never restores a container whose lock a migration or safety checkpoint holds, and restores the others under a new epoch', async () => {
    const {
      queue,
      pcs: [dead, holder],
    } = ids(2);
    const stub = new StubCluster(
      { [dead!]: { dead: true }, [holder!]: { checkpointMs: 2_000 } },
      {
        locked: { nodeId: dead!, state: 'running', memoryMiB: 64 },
        free: { nodeId: dead!, state: 'running', memoryMiB: 64 },
      },
    );
    const lastReportAt = new Date(Date.now() - 60_000).toISOString();
    stub.crashed = [
      { containerId: 'locked', deadNode: dead!, lastReportAt, holder: { nodeId: holder!, generation: 4 }, lost: false },
      { containerId: 'free', deadNode: dead!, lastReportAt, holder: { nodeId: holder!, generation: 5 }, lost: false },
    ];
    const results = await stub.run(env, bundle, queue, async () => {
      // Something holds migrate-locked meanwhile (a migration that will find its source dead, say).
      const holderRun = await env.client.workflow.start('safetyCheckpoint', {
        taskQueue: queue,
        workflowId: migrationWorkflowId('locked'),
        args: [{ containerId: 'locked', timeouts: { answerSeconds: 20, heartbeatSeconds: 20 } }],
      });
      try {
        return await env.client.workflow.execute<typeof recoverCrashedNodes>('recoverCrashedNodes', {
          taskQueue: queue,
          workflowId: `recover-${queue}`,
          args: [{ timeouts }],
        });
      } finally {
        await holderRun.terminate('test over').catch(() => undefined);
      }
    });
    expect(results.map((r) => [r.containerId, r.restoredOn, r.skipped ?? null])).toEqual([
      ['locked', null, expect.stringMatching(/a migration of it runs/)],
      ['free', holder, null],
    ]);
    expect(stub.recoveries).toEqual([{ containerId: 'free', to: holder }]);
    expect(stub.epochs).toEqual({ free: 1 });
  });

  it('restores nothing of a PC that reports again before the recovery takes its epoch (its copy goes on)', async () => {
    const {
      queue,
      pcs: [back, holder],
    } = ids(2);
    // Its copy is frozen by its fence (not running), so only the epoch's check can tell that it is back.
    const stub = new StubCluster(
      { [back!]: { lostContainers: true }, [holder!]: {} },
      { c1: { nodeId: back!, state: 'running', memoryMiB: 64 } },
    );
    stub.crashed = [
      {
        containerId: 'c1',
        deadNode: back!,
        lastReportAt: new Date(Date.now() - 60_000).toISOString(),
        holder: { nodeId: holder!, generation: 4 },
        lost: false,
      },
    ];
    stub.reportingAgain.add(back!);
    const results = await stub.run(env, bundle, queue, () =>
      env.client.workflow.execute<typeof recoverCrashedNodes>('recoverCrashedNodes', {
        taskQueue: queue,
        workflowId: `recover-${queue}`,
        args: [{ timeouts }],
      }),
    );
    expect(results.map((r) => [r.restoredOn, r.skipped ?? null])).toEqual([
      [null, expect.stringMatching(/reports again/)],
    ]);
    expect(stub.on(holder!)).toEqual([]);
    expect(stub.epochs).toEqual({});
  });
});

describe('crash recovery of what nobody could restore (stub activities)', () => {
  it('records a failed recovery as lost, then leaves it quietly while no live PC holds a checkpoint', async () => {
    const {
      queue,
      pcs: [dead, holder],
    } = ids(2);
    const stub = new StubCluster(
      { [dead!]: { dead: true }, [holder!]: { fails: { restoreLocal: failures.refused('chunk damaged') } } },
      { c1: { nodeId: dead!, state: 'running', memoryMiB: 64 } },
    );
    const lastReportAt = new Date(Date.now() - 60_000).toISOString();
    const recover = (n: number) =>
      stub.run(env, bundle, queue, () =>
        env.client.workflow.execute<typeof recoverCrashedNodes>('recoverCrashedNodes', {
          taskQueue: queue,
          workflowId: `recover-${queue}-${n}`,
          args: [{ timeouts }],
        }),
      );
    stub.crashed = [
      { containerId: 'c1', deadNode: dead!, lastReportAt, holder: { nodeId: holder!, generation: 4 }, lost: false },
    ];
    const [first] = await recover(1);
    expect(first!.error).toMatch(/chunk damaged/);
    expect(stub.containers.c1).toMatchObject({ nodeId: dead, state: 'lost' }); // not 'stopped': tried again
    // The next minute: lost, and no live PC holds a checkpoint: skipped, nothing recorded again.
    stub.crashed = [{ containerId: 'c1', deadNode: dead!, lastReportAt, holder: null, lost: true }];
    const [second] = await recover(2);
    expect(second!.skipped).toMatch(/no live PC holds a checkpoint/);
    expect(stub.recoveries).toHaveLength(1);
  });
});

describe('rebalance (stub activities)', () => {
  it('asks for at most 3 moves by default and runs at most 2 at once', async () => {
    const {
      queue,
      pcs: [from, to],
    } = ids(2);
    const containers = Object.fromEntries(
      ['r1', 'r2', 'r3', 'r4', 'r5'].map((id) => [id, { nodeId: from!, state: 'running' as const, memoryMiB: 64 }]),
    );
    const stub = new StubCluster({ [from!]: { checkpointMs: 500 }, [to!]: {} }, containers);
    stub.rebalancePlan = {
      moves: Object.keys(containers).map((containerId) => ({
        containerId,
        from: from!,
        to: to!,
        reason: 'lecture soon',
        gain: null,
      })),
      skipped: [],
    };
    const result = await stub.run(env, bundle, queue, () =>
      env.client.workflow.execute<typeof rebalance>('rebalance', {
        taskQueue: queue,
        workflowId: `rebalance-${queue}`,
        args: [{}],
      }),
    );
    expect(stub.rebalanceInput).toEqual({ maxMigrations: 3, gainThreshold: 0.3, overloadThreshold: 1.5 });
    expect(result.results.map((r) => r.outcome)).toEqual(['moved', 'moved', 'moved']);
    expect(stub.maxConcurrentCheckpoints).toBe(2);
    expect(Object.values(stub.containers).filter((c) => c.nodeId === to)).toHaveLength(3);
  });
});
