import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { PlacementDecision, PlacementPolicy } from '../../domain/placement';
import { findContainer, placementFor } from '../../state/placement';
import { MigrationAttempt, MigrationStart, recordAttempt, recordMigrationEnd, recordMigrationStart } from '../../state/migrations';

export interface ControlActivityDeps {
  db: Pool;
  policy: PlacementPolicy;
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
