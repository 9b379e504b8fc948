// An in-memory stand-in for the PCs and the control plane, for testing workflow logic against stub activities:
// no root, no runc, no database. Only the Temporal dev server is real. Each test builds its own, with node ids of
// its own (so task queues never collide between tests).
import { ApplicationFailure } from '@temporalio/activity';
import { Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ControlActivities } from '../../activities/control';
import type { NodeActivities } from '../../activities/node';
import { ErrorType } from '../../common/errors';
import { nodeTaskQueue } from '../../common/names';
import type { PlacementDecision } from '../../domain/placement';
import type { RebalancePlan } from '../../domain/rebalance';
import type {
  CheckpointReport,
  ContainerState,
  MigrationAttempt,
  RestoreReport,
  TransferReport,
} from '../../domain/reports';
import type { MigrationEnd } from '../../state/migrations';

type Activity = keyof NodeActivities;

export interface StubNode {
  /** No worker polls its queue: it behaves like a switched-off PC. */
  dead?: boolean;
  /** Activities that fail on this PC: given the activity's input, the failure to raise (undefined: succeed). */
  fails?: Partial<
    Record<Activity, (input: { containerId?: string; target?: { address: string } }) => Error | undefined>
  >;
  /** Generations of the moved container this PC holds (a remnant: no pre-copy when moving here). @default [] */
  holds?: number[];
  /** Kernel files its kernel lacks (prepareReceive's absentKernelPaths). @default none */
  absentKernelPaths?: string[];
  /** Milliseconds the checkpoint takes (to hold a migration open). @default 0 */
  checkpointMs?: number;
  /** Memory its containers report using (decides pre-copy). @default unknown */
  containerMemoryBytes?: number;
  /** It lost its containers (powered off and back): it says they are absent. */
  lostContainers?: boolean;
}

export interface StubContainer {
  nodeId: string;
  state: 'running' | 'migrating' | 'stopped';
  memoryMiB: number;
}

const refused = (message: string) => (): Error =>
  ApplicationFailure.create({ type: ErrorType.Executor, nonRetryable: true, message });
const unreachable = (message: string) => (): Error =>
  ApplicationFailure.create({ type: ErrorType.TargetUnreachable, nonRetryable: true, message });
export const failures = { refused, unreachable };

/** Synchronous stubs of some activities, made asynchronous as activities are. */
type SyncStubs<T> = { [K in keyof T]?: T[K] extends (...a: infer A) => Promise<infer R> ? (...a: A) => R : never };
function promised<T>(stubs: SyncStubs<T>): Partial<T> {
  return Object.fromEntries(
    Object.entries(stubs).map(([name, f]) => [
      name,
      (...a: unknown[]) => Promise.resolve().then(() => (f as (...x: unknown[]) => unknown)(...a)),
    ]),
  ) as Partial<T>;
}

const manifest = { entries: 1, files: 1, chunks: 1, bytes: 4096, uniqueChunks: 1 };

export class StubCluster {
  /** "<node>:<activity>" in the order the activities ran. */
  readonly calls: string[] = [];
  readonly ended: MigrationEnd[] = [];
  readonly attempts: MigrationAttempt[] = [];
  /** Containers in the order their checkpoints started. */
  readonly checkpointed: string[] = [];
  /** What each checkpoint was asked to do (what it may drop on the source, whether it is a pre-copy round). */
  readonly checkpointInputs: {
    containerId: string;
    leaveRunning: boolean;
    live?: boolean;
    supersedes?: number[];
    targetLacks?: string[];
  }[] = [];
  /** Child migrations running at once, at most. */
  maxConcurrentCheckpoints = 0;
  private running = 0;
  private generation = 0;
  /** Targets in order of preference (the stub placement policy takes the first one allowed). */
  preference: string[];
  /** The live PC that selectTarget's fallback and newestCheckpointHolder report. */
  holder: { nodeId: string; generation: number } | null = null;
  rebalancePlan: RebalancePlan = { moves: [], skipped: [] };
  rebalanceInput: unknown = null;

  constructor(
    readonly nodes: Record<string, StubNode>,
    readonly containers: Record<string, StubContainer>,
  ) {
    this.preference = Object.keys(nodes);
  }

  /** Calls made on one PC, activity names only. */
  on(nodeId: string): string[] {
    return this.calls.filter((c) => c.startsWith(`${nodeId}:`)).map((c) => c.slice(nodeId.length + 1));
  }

  /** Targets whose CPU the stub placement rule refuses, with the reason. */
  cpuRefuses: Record<string, string> = {};
  /** Each container's epoch, bumped at every restore as PostgreSQL bumps it. */
  epochs: Record<string, number> = {};
  /** What crash recovery finds (containers of silent PCs), and the recoveries it recorded. */
  crashed: {
    containerId: string;
    deadNode: string;
    lastReportAt: string;
    holder: { nodeId: string; generation: number } | null;
    lost: boolean;
  }[] = [];
  /** PCs that report again by the time a recovery asks for its epoch (nextEpochIfSilent says so). */
  reportingAgain = new Set<string>();
  recoveries: { containerId: string; to: string | null; error?: string }[] = [];

  control(): Partial<ControlActivities> {
    const decide = (containerId: string, exclude: { nodeId: string }[]): PlacementDecision => {
      const c = this.containers[containerId]!;
      const chosen = this.preference.find((n) => n !== c.nodeId && !exclude.some((e) => e.nodeId === n)) ?? null;
      return {
        containerId,
        chosen,
        policy: { weights: { k: 1, l: 0.5, m: 0.5 }, offlineAfterMs: 30_000, lectureMarginMs: 0 },
        candidates: [],
        explanation: chosen ? `stub chose ${chosen}` : 'no PC can take it (stub)',
      };
    };
    return promised<ControlActivities>({
      loadContainer: ({ containerId }) => {
        const c = this.containers[containerId];
        if (!c)
          throw ApplicationFailure.create({
            type: ErrorType.InvalidInput,
            nonRetryable: true,
            message: `no container ${containerId}`,
          });
        return { id: containerId, nodeId: c.nodeId, state: c.state, movable: c.state === 'running' };
      },
      selectTarget: ({ containerId, exclude }) => decide(containerId, exclude),
      nextEpoch: ({ containerId }) => (this.epochs[containerId] = (this.epochs[containerId] ?? 0) + 1),
      fencingTimes: () => ({ leaseSeconds: 2, marginSeconds: 1 }),
      crashedContainers: () => this.crashed.map((c) => ({ ...c, silentSeconds: 3 })),
      nextEpochIfSilent: ({ containerId, nodeId }) =>
        this.reportingAgain.has(nodeId)
          ? { reporting: true as const }
          : { epoch: (this.epochs[containerId] = (this.epochs[containerId] ?? 0) + 1) },
      recordRecovery: (r) => {
        this.recoveries.push({ containerId: r.containerId, to: r.to, ...(r.error ? { error: r.error } : {}) });
        Object.assign(this.containers[r.containerId]!, r.to ? { nodeId: r.to, state: 'running' } : { state: 'lost' });
      },
      cpuIncompatibility: ({ to }) => this.cpuRefuses[to] ?? null,
      containersOn: ({ nodeId }) =>
        Object.entries(this.containers)
          .filter(([, c]) => c.nodeId === nodeId && c.state === 'running')
          .map(([id, c]) => ({ id, memoryMiB: c.memoryMiB }))
          .sort((a, b) => b.memoryMiB - a.memoryMiB || a.id.localeCompare(b.id)),
      planRebalance: (input) => {
        this.rebalanceInput = input;
        return { ...this.rebalancePlan, moves: this.rebalancePlan.moves.slice(0, input.maxMigrations) };
      },
      newestCheckpointHolder: ({ exclude }) =>
        this.holder && !exclude.includes(this.holder.nodeId) ? this.holder : null,
      recordMigrationStart: ({ containerId }) => {
        this.containers[containerId]!.state = 'migrating';
      },
      recordAttempt: ({ attempt }) => {
        this.attempts.push(attempt);
      },
      recordMigrationEnd: (e) => {
        this.ended.push(e);
        Object.assign(this.containers[e.containerId]!, { nodeId: e.nodeId, state: e.containerState });
      },
    });
  }

  node(nodeId: string): Partial<NodeActivities> {
    const behaviour = this.nodes[nodeId]!;
    const act = async <T>(
      name: Activity,
      result: () => T | Promise<T>,
      input: { containerId?: string; target?: { address: string } } = {},
    ): Promise<T> => {
      this.calls.push(`${nodeId}:${name}`);
      const failure = behaviour.fails?.[name]?.(input);
      if (failure) throw failure;
      return result();
    };
    const transfer = (kind: 'bundle' | 'checkpoint'): TransferReport => ({
      kind,
      manifest,
      missingChunks: 0,
      ms: 1,
      wireBytes: 100,
      manifestBytes: 10,
      chunkBytes: 90,
      chunks: 1,
      skipped: 0,
    });
    const state = (containerId: string, status: ContainerState['status']): ContainerState => ({
      containerId,
      status,
      pid: 1,
    });
    return {
      prepareReceive: ({ containerId }) =>
        act('prepareReceive', () => ({
          transferId: `t-${containerId}-${nodeId}`,
          token: 'x',
          address: `${nodeId}:7070`,
          heldGenerations: behaviour.holds ?? [],
          rewrittenGenerations: [],
          hasBundle: (behaviour.holds ?? []).length > 0,
          dirtyTracking: false,
          absentKernelPaths: behaviour.absentKernelPaths ?? [],
        })),
      syncBundle: () => act('syncBundle', () => transfer('bundle')),
      checkpointContainer: ({ containerId, leaveRunning, supersedes, targetLacks, live }) =>
        act('checkpointContainer', async (): Promise<CheckpointReport> => {
          this.checkpointInputs.push({ containerId, leaveRunning, supersedes, targetLacks, live });
          // Only checkpoints that stop the container (pre-copy rounds and safety checkpoints leave it running).
          if (!leaveRunning) this.checkpointed.push(containerId);
          this.running++;
          this.maxConcurrentCheckpoints = Math.max(this.maxConcurrentCheckpoints, this.running);
          try {
            await new Promise((r) => setTimeout(r, behaviour.checkpointMs ?? 0));
          } finally {
            this.running--;
          }
          const generation = ++this.generation;
          return {
            containerId,
            generation,
            strategy: 'content',
            pages: 10,
            dumpMs: 1,
            hashMs: 1,
            image: manifest,
            spec: { containerId, args: ['/bin/true'], env: [], memoryMiB: 64 },
            meta: { generation, createdAt: new Date().toISOString(), strategy: 'content', sourceNode: nodeId },
          };
        }),
      sendCheckpoint: (input) => act('sendCheckpoint', () => transfer('checkpoint'), input),
      restoreFromTransfer: ({ spec, meta }) =>
        act('restoreFromTransfer', (): RestoreReport => ({
          containerId: spec.containerId,
          generation: meta.generation,
          bundle: { written: 0, unchanged: 0, removed: 0, kept: 0 },
          applyBundleMs: 1,
          writeImageMs: 1,
          restoreMs: 1,
          state: state(spec.containerId, 'running'),
        })),
      storeFromTransfer: ({ spec, meta }) =>
        act('storeFromTransfer', () => ({
          containerId: spec.containerId,
          generation: meta.generation,
          bundle: { written: 0, unchanged: 0, removed: 0, kept: 0 },
          writeImageMs: 1,
        })),
      restoreLocal: ({ containerId }) =>
        act('restoreLocal', () => ({
          restoreMs: 1,
          state: state(containerId, 'running'),
          checkpointCreatedAt: new Date(Date.now() - 5_000).toISOString(),
        })),
      leaveRemnant: () => act('leaveRemnant', () => ({ expiresAt: new Date(Date.now() + 3_600_000).toISOString() })),
      abortReceive: () => act('abortReceive', () => undefined),
      takeOverAddress: () => act('takeOverAddress', () => ({ heldFromMs: 1 })),
      applyRunningBundle: () =>
        act('applyRunningBundle', () => ({ written: 1, unchanged: 0, removed: 0, kept: 0, applied: true, ms: 1 })),
      containerState: ({ containerId }) =>
        act('containerState', () => ({
          // What the stub control plane records there runs there, unless the PC lost it.
          ...state(
            containerId,
            !behaviour.lostContainers && this.containers[containerId]?.nodeId === nodeId ? 'running' : 'absent',
          ),
          ...(behaviour.containerMemoryBytes !== undefined ? { memoryBytes: behaviour.containerMemoryBytes } : {}),
        })),
    };
  }

  /**
   * Runs `fn` while a control worker (task queue `controlQueue`, the real workflow bundle, stub control activities)
   * and one worker per live PC poll; all of them are shut down afterwards, even when `fn` fails.
   */
  async run<T>(
    env: TestWorkflowEnvironment,
    bundle: WorkflowBundleWithSourceMap,
    controlQueue: string,
    fn: () => Promise<T>,
  ): Promise<T> {
    const base = { connection: env.nativeConnection, namespace: env.namespace };
    const workers = [
      await Worker.create({ ...base, taskQueue: controlQueue, workflowBundle: bundle, activities: this.control() }),
    ];
    for (const id of Object.keys(this.nodes)) {
      if (!this.nodes[id]!.dead)
        workers.push(await Worker.create({ ...base, taskQueue: nodeTaskQueue(id), activities: this.node(id) }));
    }
    const runs = workers.map((w) => w.run());
    try {
      return await fn();
    } finally {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.allSettled(runs);
    }
  }
}
