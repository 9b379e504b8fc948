// Control-plane activities (on the control task queue): thin calls into the repositories of state/ and the
// pure placement and rebalancing rules of domain/. No SQL here.
import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import { ErrorType } from '../../common/errors';
import { DEFAULT_FENCE_MARGIN_SECONDS, DEFAULT_LEASE_SECONDS } from '../../common/names';
import { cpuIncompatibility, PlacementDecision, PlacementPolicy, recordedDecision } from '../../domain/placement';
import { mayMoveFrom, planRebalance, RebalanceEntry, RebalancePlan } from '../../domain/rebalance';
import { type DueEvacuation, planLectureEvacuations } from '../../domain/lecture-evacuation';
import { lecturesOfNodes, recordLectureConflicts } from '../../state/lectures';
import type { MigrationAttempt, RecoveryReport } from '../../domain/reports';
import {
  setRunning,
  setStopped,
  ContainerRow,
  containersOn,
  containersOnSilentNodes,
  findContainer,
  nextEpoch,
  nextEpochIfSilent,
  recordRestart,
  runningContainers,
  unprotectedRunningContainers,
  runningWithMemory,
} from '../../state/containers';
import { isRunningMigrationOf, MigrationEnd, MigrationStart, recordAttempt } from '../../state/migrations';
import { ClaimRefusedError, recordMigrationEnd, recordMigrationStart } from '../../state/migration-records';
import { findNode, liveNodeIds, newestCheckpointHolder, recordSeat } from '../../state/nodes';
import { campusFacts, choicesFor, needOf, placementFor } from '../../state/placement';

/** A PC's lecture evacuation due now, as an activity returns it (dates as ISO strings). */
export type LectureEvacuationDue = Omit<DueEvacuation, 'lectureAt'> & { lectureAt: string };

/** How far ahead lectures are looked at for evacuation (a lead time is minutes; a day is plenty). */
const LECTURE_LOOKAHEAD_MS = 24 * 3_600_000;

export interface ControlActivityDeps {
  db: Pool;
  /** Placement weights and margins; its offlineAfterMs is the one offline threshold of every control activity. */
  policy: PlacementPolicy;
  /** The PCs' lease and the margin recovery waits beyond it (domain/fencing.ts). */
  fencing?: { leaseSeconds: number; marginSeconds: number };
}

/** A crash recovery as the workflow reports it. */
export interface RecoveryRecord {
  id: string;
  workflowId: string;
  runId: string;
  containerId: string;
  from: string;
  to: string | null;
  generation: number | null;
  checkpointAgeMs: number | null;
  /** Why it was recovered. @default crash recovery: <from> stopped reporting */
  reason?: string;
  error?: string;
}

export function createControlActivities({
  db,
  policy,
  fencing = { leaseSeconds: DEFAULT_LEASE_SECONDS, marginSeconds: DEFAULT_FENCE_MARGIN_SECONDS },
}: ControlActivityDeps) {
  const offlineSeconds = (given?: number): number => given ?? Math.round(policy.offlineAfterMs / 1000);
  const requireContainer = async (containerId: string): Promise<ContainerRow> => {
    const c = await findContainer(db, containerId);
    if (!c)
      throw ApplicationFailure.create({
        type: ErrorType.InvalidInput,
        nonRetryable: true,
        message: `no container ${containerId} is registered (zanshin containers)`,
      });
    return c;
  };
  return {
    /**
     * The container, with `movable` true when it runs, or when it is already claimed ("migrating") by the migration
     * record `migrationId` (the API claims it before it starts the workflow). Without `migrationId`, only a running
     * container is movable.
     */
    async loadContainer(input: {
      containerId: string;
      migrationId?: string;
    }): Promise<{ id: string; nodeId: string | null; state: string; movable: boolean }> {
      const c = await requireContainer(input.containerId);
      const movable =
        c.nodeId !== null &&
        (c.state === 'running' ||
          (c.state === 'migrating' &&
            !!input.migrationId &&
            (await isRunningMigrationOf(db, input.migrationId, c.id))));
      return { id: c.id, nodeId: c.nodeId, state: c.state, movable };
    },
    /** The placement policy's choice, with every candidate explained; `exclude` rules out targets that failed. */
    async selectTarget(input: {
      containerId: string;
      exclude: { nodeId: string; reason: string }[];
    }): Promise<PlacementDecision> {
      return recordedDecision(
        await placementFor(db, await requireContainer(input.containerId), policy, new Date(), input.exclude),
      );
    },
    /**
     * Whether a container may move from one PC to another as the caller named them: null, or why the target's CPU
     * cannot run what the source's ran. PCs that never reported are not judged here (the move itself will tell).
     */
    async cpuIncompatibility(input: { from: string; to: string }): Promise<string | null> {
      const [from, to] = await Promise.all([findNode(db, input.from), findNode(db, input.to)]);
      if (!from || !to) return null;
      return cpuIncompatibility(input.from, from.cpuFlags, input.to, to.cpuFlags);
    },
    /** A PC's user logged in at its keyboard (in use from `at`), or logged out (offered again after idleSeconds). */
    async recordSeat(input: {
      nodeId: string;
      inUse: boolean;
      at: string;
      user: string | null;
      idleSeconds: number;
    }): Promise<void> {
      await recordSeat(db, input.nodeId, { ...input, at: new Date(input.at) });
    },
    /** Containers running on a PC, most valuable first: the most memory (the most work lost if not moved), then id. */
    async containersOn(input: { nodeId: string }): Promise<{ id: string; memoryMiB: number }[]> {
      return containersOn(db, input.nodeId);
    },
    /** Gathers each running container's PC load, lectures and placement decision, and plans this run's moves. */
    async planRebalance(input: {
      maxMigrations: number;
      gainThreshold: number;
      overloadThreshold: number;
    }): Promise<RebalancePlan> {
      const now = new Date();
      const options = { weights: policy.weights, lectureMarginMs: policy.lectureMarginMs, now, ...input };
      // The campus read once; placement asked only for containers whose PC makes them movable (domain/rebalance.ts).
      const campus = await campusFacts(db, now);
      const byId = new Map(campus.nodes.map((n, i) => [n.id, { node: n, facts: campus.facts[i]! }]));
      const movable = new Map<string, RebalanceEntry['source']>();
      for (const { id, nodeId } of await runningContainers(db)) {
        const pc = byId.get(nodeId);
        const need = pc ? pc.facts : await needOf(db, nodeId, now);
        const source = {
          cpu: pc?.node.cpu ?? 0,
          memory: pc?.node.memory ?? 0,
          inLectureUntil: need.inLectureUntil,
          nextLectureAt: need.nextLectureAt,
          inUse: pc?.facts.inUse ?? null,
        };
        if (mayMoveFrom(source, options)) movable.set(id, source);
      }
      const rows = (await Promise.all([...movable.keys()].map((id) => findContainer(db, id)))).filter(
        (c): c is ContainerRow => !!c?.nodeId,
      );
      const choices = await choicesFor(db, rows, policy, now, campus);
      const entries: RebalanceEntry[] = rows.map((c) => ({
        containerId: c.id,
        nodeId: c.nodeId!,
        source: movable.get(c.id)!,
        decision: choices.get(c.id)!,
      }));
      return planRebalance(entries, options);
    },
    /**
     * Lecture-driven evacuation: which PCs must start evacuating now for their next lecture (and those caught in
     * one, whose containers are recorded as lecture conflicts). Three queries whatever the number of PCs.
     */
    async planLectureEvacuations(input: {
      parallel?: number;
      intervalMs?: number;
      safetyMs?: number;
    }): Promise<{ due: LectureEvacuationDue[]; newConflicts: number }> {
      const now = new Date();
      const running = await runningWithMemory(db);
      const byNode = new Map<string, { id: string; memoryBytes: number }[]>();
      for (const c of running) {
        const list = byNode.get(c.nodeId) ?? [];
        list.push({ id: c.id, memoryBytes: c.memoryMiB * 2 ** 20 });
        byNode.set(c.nodeId, list);
      }
      const lectures = await lecturesOfNodes(db, [...byNode.keys()], now, LECTURE_LOOKAHEAD_MS);
      const plan = planLectureEvacuations(
        [...byNode].map(([nodeId, containers]) => ({ nodeId, containers, lectures: lectures.get(nodeId) ?? [] })),
        { now, ...input },
      );
      const newConflicts = await recordLectureConflicts(db, plan.conflicts);
      return {
        due: plan.due.map((d) => ({ ...d, lectureAt: d.lectureAt.toISOString() })),
        newConflicts,
      };
    },
    /** Containers recorded as running, for safety checkpoints. */
    async runningContainers(): Promise<{ id: string; nodeId: string }[]> {
      return runningContainers(db);
    },
    /** Running containers continuous protection has not kept a checkpoint of within `withinSeconds`. */
    async unprotectedContainers(input: { withinSeconds: number }): Promise<{ id: string; nodeId: string }[]> {
      return unprotectedRunningContainers(db, input.withinSeconds);
    },
    /** PCs that report (so their GC can run). */
    async liveNodes(input: { offlineAfterSeconds?: number } = {}): Promise<string[]> {
      return liveNodeIds(db, offlineSeconds(input.offlineAfterSeconds));
    },
    /**
     * Containers recorded as running on a PC that stopped reporting, each with the live PC holding its newest
     * checkpoint (null when no other PC holds one).
     */
    async crashedContainers(input: { offlineAfterSeconds?: number } = {}): Promise<
      {
        containerId: string;
        deadNode: string;
        lastReportAt: string;
        holder: { nodeId: string; generation: number } | null;
        /** The PC is live but lost the copy (rather than gone silent). */
        lost: boolean;
        /** How long the PC has been silent at least (its recovery's epoch is given only while it still is). */
        silentSeconds: number;
      }[]
    > {
      // Never sooner than lease + margin: until then a silent PC may still run them (domain/fencing.ts).
      const { leaseSeconds, marginSeconds } = fencing;
      const seconds = Math.max(offlineSeconds(input.offlineAfterSeconds), leaseSeconds + marginSeconds);
      const out = [];
      for (const r of await containersOnSilentNodes(db, seconds)) {
        // A PC that lost a copy is live: its own checkpoints of it count.
        const holder = await newestCheckpointHolder(db, r.containerId, r.lost ? [] : [r.deadNode], seconds);
        out.push({
          containerId: r.containerId,
          deadNode: r.deadNode,
          lastReportAt: r.lastReportAt.toISOString(),
          holder,
          lost: r.lost,
          silentSeconds: seconds,
        });
      }
      return out;
    },
    /** The live PC (not excluded) holding the container's newest checkpoint, if any. */
    async newestCheckpointHolder(input: {
      containerId: string;
      exclude: string[];
    }): Promise<{ nodeId: string; generation: number } | null> {
      return newestCheckpointHolder(db, input.containerId, input.exclude, offlineSeconds());
    },
    /** Records a crash recovery as a migration: where the container runs now, from how old a checkpoint. */
    async recordRecovery(input: RecoveryRecord): Promise<void> {
      const ok = !input.error && input.to !== null;
      await recordMigrationStart(
        db,
        {
          id: input.id,
          workflowId: input.workflowId,
          runId: input.runId,
          containerId: input.containerId,
          from: input.from,
          to: input.to ?? input.from,
          reason: input.reason ?? `crash recovery: ${input.from} stopped reporting`,
          decision: null,
        },
        { checked: false },
      );
      await recordMigrationEnd(db, {
        id: input.id,
        containerId: input.containerId,
        status: ok ? 'completed' : 'failed',
        report: {
          recovery: true,
          generation: input.generation,
          checkpointAgeMs: input.checkpointAgeMs,
          connectionsLost: true,
        } satisfies RecoveryReport,
        ...(input.error ? { error: input.error } : {}),
        nodeId: input.to ?? input.from,
        // Not restored: lost, so that the next recovery tries again (when a PC holding a checkpoint is live).
        containerState: ok ? 'running' : 'lost',
      });
    },
    async recordMigrationStart(input: MigrationStart): Promise<void> {
      await recordMigrationStart(db, input).catch((err: unknown) => {
        if (err instanceof ClaimRefusedError)
          throw ApplicationFailure.create({ type: ErrorType.InvalidInput, nonRetryable: true, message: err.message });
        throw err;
      });
    },
    /**
     * A new epoch for the copy a restore is about to run (the older copy is stale from now on); null for a container
     * migration-api does not keep.
     */
    async nextEpoch(input: { containerId: string }): Promise<number | null> {
      return nextEpoch(db, input.containerId);
    },
    /**
     * Crash recovery's epoch, given only while the PC is still silent (state/containers.ts nextEpochIfSilent):
     * `reporting` when it reports again (the recovery stops; the PC's copy goes on).
     */
    async nextEpochIfSilent(input: {
      containerId: string;
      nodeId: string;
      silentSeconds: number;
    }): Promise<{ epoch: number | null } | { reporting: true }> {
      return nextEpochIfSilent(db, input.containerId, input.nodeId, input.silentSeconds);
    },
    /** Lease and margin (domain/fencing.ts): a copy whose PC went silent may run until lease + margin have passed. */
    async fencingTimes(): Promise<{ leaseSeconds: number; marginSeconds: number }> {
      return Promise.resolve(fencing);
    },
    /** Whether migration-api keeps this container (then only migrateContainer may move it: it records where). */
    async isRegistered(input: { containerId: string }): Promise<boolean> {
      return (await findContainer(db, input.containerId)) !== null;
    },
    async recordAttempt(input: {
      id: string;
      attempt: MigrationAttempt;
      nextTo: string | null;
      decision: PlacementDecision | null;
    }): Promise<void> {
      await recordAttempt(db, input.id, input.attempt, input.nextTo, input.decision);
    },
    async recordMigrationEnd(input: MigrationEnd): Promise<void> {
      await recordMigrationEnd(db, input);
    },
    /** A user stopped the container: where its final checkpoint is kept. */
    async recordStopped(input: { containerId: string; nodeId: string; generation: number }): Promise<void> {
      await setStopped(db, input.containerId, input.nodeId, input.generation);
    },
    /** Its program was started afresh on `nodeId` by its restart policy. */
    async recordRestart(input: { containerId: string; nodeId: string }): Promise<void> {
      await recordRestart(db, input.containerId, input.nodeId);
    },
    /** The container runs again (after a start of a stopped container). */
    async recordRunning(input: { containerId: string; nodeId: string }): Promise<void> {
      await setRunning(db, input.containerId, input.nodeId);
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;
