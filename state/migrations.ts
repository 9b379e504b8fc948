// The only writer of the `migrations` table: every migration and crash recovery, how it started and ended.
import type { MigrationAttempt, MoveReport, RecoveryReport } from '../domain/reports';
import type { Queryable } from './db';

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

/** A migration as recorded: how it started, and how it is going or ended. */
export interface MigrationRow extends MigrationStart {
  status: 'running' | 'completed' | 'failed';
  /** The workflow's report (a move's, or a recovery's summary). */
  report: MoveReport | RecoveryReport | null;
  error: string | null;
  attempts: MigrationAttempt[];
  startedAt: Date;
  endedAt: Date | null;
}

const COLUMNS = `id, workflow_id AS "workflowId", run_id AS "runId", container_id AS "containerId", from_node AS "from", to_node AS "to",
  reason, status, decision, report, error, attempts, started_at AS "startedAt", ended_at AS "endedAt"`;

/**
 * Records a migration whose container the caller has already claimed (the API, right after starting the workflow).
 * Idempotent with recordMigrationStart (migration-records.ts): whichever comes first writes the row.
 */
export async function insertMigration(db: Queryable, m: MigrationStart, startedAt?: Date): Promise<void> {
  await db.query(
    `INSERT INTO migrations (id, workflow_id, run_id, container_id, from_node, to_node, reason, status, decision, started_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, COALESCE($9, now()))
     ON CONFLICT (id) DO UPDATE SET run_id = $3, to_node = $6, decision = COALESCE(migrations.decision, $8)`,
    [m.id, m.workflowId, m.runId, m.containerId, m.from, m.to, m.reason, m.decision, startedAt ?? null],
  );
}

/** A target was tried: its outcome is appended, and the next target (if any) becomes the migration's target. */
export async function recordAttempt(
  db: Queryable,
  id: string,
  attempt: MigrationAttempt,
  nextTo: string | null,
  decision: unknown,
): Promise<void> {
  await db.query(
    `UPDATE migrations SET attempts = attempts || $2::jsonb, to_node = COALESCE($3, to_node), decision = COALESCE($4, decision) WHERE id = $1`,
    [id, JSON.stringify([attempt]), nextTo, decision],
  );
}

/** Ends a migration: its status, report or error, and when. */
export async function endMigration(
  db: Queryable,
  id: string,
  status: 'completed' | 'failed',
  report: unknown,
  error: string | null,
): Promise<void> {
  await db.query(
    'UPDATE migrations SET status = $2, report = COALESCE($3, report), error = $4, ended_at = now() WHERE id = $1',
    [id, status, report ?? null, error],
  );
}

export interface MigrationEnd {
  id: string;
  containerId: string;
  status: 'completed' | 'failed';
  report?: unknown;
  error?: string;
  /** Where the container is now. */
  nodeId: string;
  /** 'lost': its source no longer runs it (crash recovery brings it back). */
  containerState: 'running' | 'stopped' | 'lost';
}

export async function findMigration(db: Queryable, id: string): Promise<MigrationRow | null> {
  const { rows } = await db.query<MigrationRow>(`SELECT ${COLUMNS} FROM migrations WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/** Newest first, optionally of one container, optionally only of one owner's containers. */
export async function listMigrations(
  db: Queryable,
  q: { containerId?: string; owner?: string; limit: number },
): Promise<MigrationRow[]> {
  const { rows } = await db.query<MigrationRow>(
    `SELECT ${COLUMNS} FROM migrations WHERE ($1::text IS NULL OR container_id = $1)
       AND ($3::text IS NULL OR container_id IN (SELECT id FROM containers WHERE owner = $3))
     ORDER BY started_at DESC LIMIT $2`,
    [q.containerId ?? null, q.limit, q.owner ?? null],
  );
  return rows;
}

/** Whether `id` is a running migration of this container (the one that claimed it). */
export async function isRunningMigrationOf(db: Queryable, id: string, containerId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    "SELECT 1 FROM migrations WHERE id = $1 AND container_id = $2 AND status = 'running'",
    [id, containerId],
  );
  return !!rowCount;
}

/** Removes a container's history (only with the container itself: see deleteContainer). */
export async function deleteMigrationsOf(db: Queryable, containerId: string): Promise<void> {
  await db.query('DELETE FROM migrations WHERE container_id = $1', [containerId]);
}

/**
 * Removes history that ended before `before`: finished migrations, lecture conflicts, and lectures (a semester of
 * 1,000 PCs would otherwise keep growing: see bench/control-plane.ts). Running migrations stay whatever their age.
 */
export async function pruneHistory(
  db: Queryable,
  before: Date,
): Promise<{ migrations: number; lectureConflicts: number; lectures: number }> {
  const migrations = await db.query("DELETE FROM migrations WHERE status <> 'running' AND ended_at < $1", [before]);
  const conflicts = await db.query('DELETE FROM lecture_conflicts WHERE lecture_at < $1', [before]);
  const lectures = await db.query('DELETE FROM lectures WHERE ends_at < $1', [before]);
  return {
    migrations: migrations.rowCount ?? 0,
    lectureConflicts: conflicts.rowCount ?? 0,
    lectures: lectures.rowCount ?? 0,
  };
}
