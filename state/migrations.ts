import type { Pool } from 'pg';
import { inTransaction } from './db';
import type { MoveReport } from '../workflows/move-container';

export interface MigrationAttempt {
  to: string;
  outcome: 'completed' | 'target failed' | 'failed';
  error?: string;
}

/** A migration as recorded: how it started, and how it is going or ended. */
export interface MigrationRow extends MigrationStart {
  status: 'running' | 'completed' | 'failed';
  report: MoveReport | null;
  error: string | null;
  attempts: MigrationAttempt[];
  startedAt: Date;
  endedAt: Date | null;
}

export const MIGRATION_COLUMNS = `id, workflow_id AS "workflowId", run_id AS "runId", container_id AS "containerId", from_node AS "from", to_node AS "to",
  reason, status, decision, report, error, attempts, started_at AS "startedAt", ended_at AS "endedAt"`;

/** What a migration is when it starts: which container, from where to where, why, and the placement decision. */
export interface MigrationStart {
  id: string;
  workflowId: string;
  runId: string;
  containerId: string;
  from: string;
  to: string;
  reason: string;
  decision: unknown;
}

/**
 * Records a migration and claims its container (state migrating). Idempotent: the API may have recorded it
 * already, and a retried activity must not fail on its own earlier write.
 */
export async function recordMigrationStart(db: Pool, m: MigrationStart): Promise<void> {
  await inTransaction(db, async (c) => {
    await c.query(`INSERT INTO migrations (id, workflow_id, run_id, container_id, from_node, to_node, reason, status, decision)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8)
             ON CONFLICT (id) DO UPDATE SET run_id = $3, to_node = $6, decision = COALESCE(migrations.decision, $8)`,
    [m.id, m.workflowId, m.runId, m.containerId, m.from, m.to, m.reason, m.decision]);
    await c.query("UPDATE containers SET state = 'migrating', updated_at = now() WHERE id = $1", [m.containerId]);
  });
}

/** A target was tried: its outcome is appended, and the next target (if any) becomes the migration's target. */
export async function recordAttempt(db: Pool, id: string, attempt: MigrationAttempt, nextTo: string | null, decision: unknown): Promise<void> {
  await db.query(
    `UPDATE migrations SET attempts = attempts || $2::jsonb, to_node = COALESCE($3, to_node), decision = COALESCE($4, decision) WHERE id = $1`,
    [id, JSON.stringify([attempt]), nextTo, decision]);
}

/** Ends a migration and records where the container runs now (or that it stopped, if it could not be restored). */
export async function recordMigrationEnd(db: Pool, e: { id: string; containerId: string; status: 'completed' | 'failed'; report?: unknown; error?: string; nodeId: string; containerState: 'running' | 'stopped' }): Promise<void> {
  await inTransaction(db, async (c) => {
    await c.query('UPDATE migrations SET status = $2, report = $3, error = $4, ended_at = now() WHERE id = $1', [e.id, e.status, e.report ?? null, e.error ?? null]);
    await c.query('UPDATE containers SET node_id = $2, state = $3, updated_at = now() WHERE id = $1', [e.containerId, e.nodeId, e.containerState]);
  });
}
