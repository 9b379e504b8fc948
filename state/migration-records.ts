// Writes that span a container and its migrations, each in one transaction. The two tables keep their one writer
// each (containers.ts, migrations.ts); this module only decides what changes together.
import type { Pool } from 'pg';
import type { MoveReport } from '../domain/reports';
import { deleteContainerRow, markMigrating, releaseClaim, setLocation } from './containers';
import { inTransaction } from './db';
import {
  deleteMigrationsOf,
  endMigration,
  insertMigration,
  MigrationEnd,
  MigrationRow,
  MigrationStart,
} from './migrations';

/**
 * Records a migration and claims its container (state migrating). Idempotent: the API may have recorded it
 * already, and a retried activity must not fail on its own earlier write.
 */
export async function recordMigrationStart(db: Pool, m: MigrationStart): Promise<void> {
  await inTransaction(db, async (c) => {
    await insertMigration(c, m);
    await markMigrating(c, m.containerId);
  });
}

/** Ends a migration and records where the container runs now (or that it stopped, if it could not be restored). */
export async function recordMigrationEnd(db: Pool, e: MigrationEnd): Promise<void> {
  await inTransaction(db, async (c) => {
    await endMigration(c, e.id, e.status, e.report ?? null, e.error ?? null);
    await setLocation(c, e.containerId, e.nodeId, e.containerState);
  });
}

/**
 * Ends a migration whose workflow closed without recording its own end (it was terminated, or failed before
 * reaching its last step): a completed one puts the container on its target, any other gives the claim back.
 */
export async function settleMigration(
  db: Pool,
  row: MigrationRow,
  outcome: { completed: true; report: MoveReport } | { completed: false; error: string },
): Promise<void> {
  await inTransaction(db, async (c) => {
    if (outcome.completed) {
      await endMigration(c, row.id, 'completed', outcome.report, null);
      await setLocation(c, row.containerId, row.to, 'running');
    } else {
      await endMigration(c, row.id, 'failed', null, outcome.error);
      await releaseClaim(c, row.containerId);
    }
  });
}

/** Removes a container and its migration history together. */
export async function deleteContainerWithHistory(db: Pool, id: string): Promise<void> {
  await inTransaction(db, async (c) => {
    await deleteMigrationsOf(c, id);
    await deleteContainerRow(c, id);
  });
}
