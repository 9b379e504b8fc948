import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { MoveReport } from '../domain/reports';
import { failureMessage } from '../common/failures';
import { settleMigration } from '../state/migration-records';
import { findMigration, MigrationRow } from '../state/migrations';

/**
 * Brings a running migration's row up to date with its workflow when the workflow closed without recording its
 * end (terminated, timed out): on completion the report is stored and the container is recorded on the target;
 * otherwise the error is stored and the container stays on the source (the workflow restores it there).
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
  if (status === 'COMPLETED') {
    await settleMigration(db, row, { completed: true, report: (await handle.result()) as MoveReport });
  } else {
    const error = await handle.result().then(
      () => status,
      (err: unknown) => failureMessage(err),
    );
    await settleMigration(db, row, { completed: false, error: `${status}: ${error}` });
  }
  return (await findMigration(db, row.id)) ?? row;
}
