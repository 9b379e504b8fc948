import { Pool as PgPool } from 'pg';
import type { Pool, PoolClient } from 'pg';

/** A pool or one transaction's connection: repository functions that may run inside a transaction take either. */
export type Queryable = Pool | PoolClient;

/** Runs `fn` in one transaction on one connection: everything it writes commits together, or nothing does. */
export async function inTransaction<T>(db: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

/**
 * A connection pool that survives its server going away: node-postgres emits 'error' on the pool when an idle
 * connection dies (a PostgreSQL restart), and an unhandled 'error' would end the whole process.
 */
export function createPool(connectionString: string, max: number, log: (line: string) => void = console.error): Pool {
  const pool = new PgPool({ connectionString, max });
  pool.on('error', (err) => log(`database connection lost (it will reconnect on next use): ${err.message}`));
  return pool;
}

/** Appended to an ORDER BY term: ids sort the way people count (pc2 before pc10; migration 010's collation). */
export const NATURAL = 'COLLATE natural_order';
