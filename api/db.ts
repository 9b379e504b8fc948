import path from 'node:path';
import type { Pool } from 'pg';
import Postgrator from 'postgrator';
import { REPO_ROOT } from '../common/paths';
import { withConnection } from '../state/db';

/** Any fixed number: the advisory lock that keeps two API processes from migrating at once. */
const MIGRATION_LOCK = 424_242;

/** Applies the versioned SQL migrations in api/migrations that this database lacks. Idempotent. */
export async function migrate(pool: Pool): Promise<{ applied: string[] }> {
  return withConnection(pool, async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
      const postgrator = new Postgrator({
        migrationPattern: path.join(REPO_ROOT, 'api', 'migrations', '*.sql'),
        driver: 'pg',
        database: rows[0]!.db,
        schemaTable: 'schema_migrations',
        execQuery: (query) => client.query(query),
      });
      const applied = await postgrator.migrate();
      return { applied: applied.map((m) => `${m.version} ${m.name}`) };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    }
  });
}
