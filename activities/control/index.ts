import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { PlacementDecision, PlacementPolicy } from '../../domain/placement';
import { findContainer, needOf, placementFor } from '../../state/placement';
import { planRebalance, RebalanceEntry, RebalancePlan } from '../../domain/rebalance';
import { MigrationAttempt, MigrationStart, recordAttempt, recordMigrationEnd, recordMigrationStart } from '../../state/migrations';

export interface ControlActivityDeps {
  db: Pool;
  policy: PlacementPolicy;
}

async function newestCheckpointHolder(db: Pool, containerId: string, exclude: string[], offlineAfterSeconds: number) {
  const { rows } = await db.query<{ nodeId: string; generation: number }>(
    `SELECT r.node_id AS "nodeId", max(g)::int AS generation FROM remnants r JOIN nodes n ON n.id = r.node_id, unnest(r.generations) g
     WHERE r.container_id = $1 AND NOT (r.node_id = ANY($2)) AND n.last_report_at > now() - ($3::int * interval '1 second')
     GROUP BY r.node_id ORDER BY generation DESC, r.node_id LIMIT 1`, [containerId, exclude, offlineAfterSeconds]);
  return rows[0] ?? null;
}

/** Control-plane activities (on the control task queue): the cluster's state in PostgreSQL and placement. */
export function createControlActivities({ db, policy }: ControlActivityDeps) {
  return {
    /**
     * The container, with `movable` true when it runs, or when it is already claimed ("migrating") by the migration
     * record `migrationId` (the API claims it before it starts the workflow).
     */
    async loadContainer(input: { containerId: string; migrationId: string }): Promise<{ id: string; nodeId: string | null; state: string; movable: boolean }> {
      const c = await findContainer(db, input.containerId);
      if (!c) throw ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message: `no container ${input.containerId} is registered (zanshin containers)` });
      let movable = c.state === 'running' && c.nodeId !== null;
      if (c.state === 'migrating') {
        const { rowCount } = await db.query("SELECT 1 FROM migrations WHERE id = $1 AND container_id = $2 AND status = 'running'", [input.migrationId, c.id]);
        movable = !!rowCount && c.nodeId !== null;
      }
      return { id: c.id, nodeId: c.nodeId, state: c.state, movable };
    },
    /** The placement policy's choice, with every candidate explained; `exclude` rules out targets that failed. */
    async selectTarget(input: { containerId: string; exclude: { nodeId: string; reason: string }[] }): Promise<PlacementDecision> {
      const c = await findContainer(db, input.containerId);
      if (!c) throw ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message: `no container ${input.containerId}` });
      return placementFor(db, c, policy, new Date(), input.exclude);
    },
    /** Containers running on a PC, most valuable first: the most memory (the most work lost if not moved), then id. */
    async containersOn(input: { nodeId: string }): Promise<{ id: string; memoryMiB: number }[]> {
      const { rows } = await db.query<{ id: string; memoryMiB: number }>(
        `SELECT id, memory_mib AS "memoryMiB" FROM containers WHERE node_id = $1 AND state = 'running' ORDER BY memory_mib DESC, id`, [input.nodeId]);
      return rows;
    },
    /** Gathers each running container's PC load, lectures and placement decision, and plans this run's moves. */
    async planRebalance(input: { maxMigrations: number; gainThreshold: number; overloadThreshold: number }): Promise<RebalancePlan> {
      const now = new Date();
      const { rows } = await db.query<{ id: string }>("SELECT id FROM containers WHERE state = 'running' AND node_id IS NOT NULL ORDER BY id");
      const entries: RebalanceEntry[] = [];
      for (const { id } of rows) {
        const c = await findContainer(db, id);
        if (!c?.nodeId) continue;
        const load = await db.query<{ cpu: number; memory: number }>('SELECT cpu, memory FROM load_samples WHERE node_id = $1 ORDER BY at DESC LIMIT 1', [c.nodeId]);
        entries.push({
          containerId: c.id, nodeId: c.nodeId,
          source: { cpu: load.rows[0]?.cpu ?? 0, memory: load.rows[0]?.memory ?? 0, ...(await needOf(db, c.nodeId, now)) },
          decision: await placementFor(db, c, policy, now),
        });
      }
      return planRebalance(entries, { weights: policy.weights, lectureMarginMs: policy.lectureMarginMs, now, ...input });
    },
    /** Containers recorded as running, for safety checkpoints. */
    async runningContainers(): Promise<{ id: string; nodeId: string }[]> {
      const { rows } = await db.query<{ id: string; nodeId: string }>(
        `SELECT id, node_id AS "nodeId" FROM containers WHERE state = 'running' AND node_id IS NOT NULL ORDER BY id`);
      return rows;
    },
    /** PCs that report (so their GC can run). */
    async liveNodes(input: { offlineAfterSeconds: number }): Promise<string[]> {
      const { rows } = await db.query<{ id: string }>(
        "SELECT id FROM nodes WHERE last_report_at > now() - ($1::int * interval '1 second') ORDER BY id", [input.offlineAfterSeconds]);
      return rows.map((r) => r.id);
    },
    /**
     * Containers recorded as running on a PC that stopped reporting, each with the live PC holding its newest
     * checkpoint (null when no other PC holds one).
     */
    async crashedContainers(input: { offlineAfterSeconds: number }): Promise<{ containerId: string; deadNode: string; lastReportAt: string; holder: { nodeId: string; generation: number } | null }[]> {
      const { rows } = await db.query<{ containerId: string; deadNode: string; lastReportAt: Date }>(
        `SELECT c.id AS "containerId", c.node_id AS "deadNode", n.last_report_at AS "lastReportAt" FROM containers c JOIN nodes n ON n.id = c.node_id
         WHERE c.state = 'running' AND n.last_report_at < now() - ($1::int * interval '1 second') ORDER BY c.id`, [input.offlineAfterSeconds]);
      const out = [];
      for (const r of rows) {
        const holder = await newestCheckpointHolder(db, r.containerId, [r.deadNode], input.offlineAfterSeconds);
        out.push({ containerId: r.containerId, deadNode: r.deadNode, lastReportAt: r.lastReportAt.toISOString(), holder });
      }
      return out;
    },
    /** The live PC (not excluded) holding the container's newest complete checkpoint, if any. */
    async newestCheckpointHolder(input: { containerId: string; exclude: string[] }): Promise<{ nodeId: string; generation: number } | null> {
      return newestCheckpointHolder(db, input.containerId, input.exclude, Math.round(policy.offlineAfterMs / 1000));
    },
    /** Records a crash recovery as a migration: where the container runs now, from how old a checkpoint. */
    async recordRecovery(input: { id: string; workflowId: string; runId: string; containerId: string; from: string; to: string | null;
      generation: number | null; checkpointAgeMs: number | null; error?: string }): Promise<void> {
      const ok = !input.error && input.to !== null;
      await recordMigrationStart(db, { id: input.id, workflowId: input.workflowId, runId: input.runId, containerId: input.containerId,
        from: input.from, to: input.to ?? input.from, reason: `crash recovery: ${input.from} stopped reporting`, decision: null });
      await recordMigrationEnd(db, {
        id: input.id, containerId: input.containerId, status: ok ? 'completed' : 'failed',
        report: { recovery: true, generation: input.generation, checkpointAgeMs: input.checkpointAgeMs },
        ...(input.error ? { error: input.error } : {}), nodeId: input.to ?? input.from, containerState: ok ? 'running' : 'stopped',
      });
    },
    async recordMigrationStart(input: MigrationStart): Promise<void> {
      await recordMigrationStart(db, input);
    },
    async recordAttempt(input: { id: string; attempt: MigrationAttempt; nextTo: string | null; decision: PlacementDecision | null }): Promise<void> {
      await recordAttempt(db, input.id, input.attempt, input.nextTo, input.decision);
    },
    async recordMigrationEnd(input: Parameters<typeof recordMigrationEnd>[1]): Promise<void> {
      await recordMigrationEnd(db, input);
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;
