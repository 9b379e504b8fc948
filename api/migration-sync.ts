import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { MoveReport } from '../workflows/move-container';
import { MIGRATION_COLUMNS, MigrationRow } from '../state/migrations';
import { inTransaction } from '../state/db';

export { MIGRATION_COLUMNS, MigrationRow };

/**
 * Brings a running migration's row up to date with its workflow: on completion the report is stored and the
 * container is recorded on the target; on failure the error is stored and the container stays on the source
 * (moveContainer restores it there).
 */
export async function syncMigration(db: Pool, temporal: Client, row: MigrationRow): Promise<MigrationRow> {
  if (row.status !== 'running') return row;
  const handle = temporal.workflow.getHandle(row.workflowId, row.runId);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch {
    return row; // Temporal unreachable: report what the database knows
  }
  if (status === 'RUNNING' || status === 'CONTINUED_AS_NEW') return row;
  await inTransaction(db, async (client) => {
    if (status === 'COMPLETED') {
      const report = (await handle.result()) as MoveReport;
      await client.query("UPDATE migrations SET status = 'completed', report = $2, ended_at = now() WHERE id = $1", [row.id, report]);
      await client.query("UPDATE containers SET node_id = $2, state = 'running', updated_at = now() WHERE id = $1", [row.containerId, row.to]);
    } else {
      const error = await handle.result().then(() => status, (err: { cause?: Error; message: string }) => err.cause?.message ?? err.message);
      await client.query("UPDATE migrations SET status = 'failed', error = $2, ended_at = now() WHERE id = $1", [row.id, `${status}: ${error}`]);
      await client.query("UPDATE containers SET state = 'running', updated_at = now() WHERE id = $1 AND state = 'migrating'", [row.containerId]);
    }
  });
  const { rows } = await db.query<MigrationRow>(`SELECT ${MIGRATION_COLUMNS} FROM migrations WHERE id = $1`, [row.id]);
  return rows[0]!;
}
