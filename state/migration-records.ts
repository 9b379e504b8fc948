// Writes that span a container and its migrations, each in one transaction. The two tables keep their one writer
// each (containers.ts, migrations.ts); this module only decides what changes together.
import type { Pool } from 'pg';
import type { MoveReport } from '../domain/reports';
import { deleteContainerRow, markMigrating, releaseClaim, setLocation } from './containers';
import { inTransaction, Queryable } from './db';
import {
  deleteMigrationsOf,
  endMigration,
  insertMigration,
  isRunningMigrationOf,
  MigrationEnd,
  MigrationRow,
  MigrationStart,
} from './migrations';

/** The container is not this migration's to move (another holds it, or it does not run where it was said to). */
export class ClaimRefusedError extends Error {
  override name = 'ClaimRefusedError';
}

/**
 * Records a migration and claims its container (state migrating): only a container running on `from`, or one this
 * very migration claimed already (the API claims before it starts the workflow; a retried activity finds its own
 * earlier write). Two migrations of one container, however started, never both get past this. `checked: false`
 * records what already happened (a crash recovery), whatever the container's state.
 */
export async function recordMigrationStart(
  db: Pool,
  m: MigrationStart,
  { checked = true }: { checked?: boolean } = {},
): Promise<void> {
  await inTransaction(db, async (c) => {
    if (checked) await claimFor(c, m);
    await insertMigration(c, m);
    await markMigrating(c, m.containerId);
  });
}

/** Refuses a migration that may not claim its container (see recordMigrationStart); the row stays locked. */
async function claimFor(c: Queryable, m: MigrationStart): Promise<void> {
  const { rows } = await c.query<{ state: string; nodeId: string | null }>(
    'SELECT state, node_id AS "nodeId" FROM containers WHERE id = $1 FOR UPDATE',
    [m.containerId],
  );
  const row = rows[0];
  if (!row) throw new ClaimRefusedError(`no container ${m.containerId} is registered`);
  const ours = row.state === 'migrating' && (await isRunningMigrationOf(c, m.id, m.containerId));
  if (!ours && !(row.state === 'running' && row.nodeId === m.from))
    throw new ClaimRefusedError(
      `container ${m.containerId} is ${row.state}${row.state === 'migrating' ? ' (another migration holds it)' : ''} ` +
        `on ${row.nodeId ?? 'no PC'}: not moved by migration ${m.id}`,
    );
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
