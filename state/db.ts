import { createHash } from 'node:crypto';
import { Pool as PgPool } from 'pg';
import type { Pool, PoolClient } from 'pg';

/** A pool or one transaction's connection: repository functions that may run inside a transaction take either. */
export type Queryable = Pool | PoolClient;

/** How a secret (token, session id) is kept: only its SHA-256, so a copy of the database lets nobody in. */
export const secretHash = (secret: string): Buffer => createHash('sha256').update(secret).digest();

/**
 * Runs `fn` with one connection of the pool to itself. While it is checked out, node-postgres gives the connection
 * no 'error' listener: a server restart then (between two queries) emitted an unhandled 'error' and ended the whole
 * process (found by the soak: migration-api died at a PostgreSQL restart). Here such an error fails the next query
 * instead, and the dead connection is dropped from the pool, not handed out again.
 */
export async function withConnection<T>(db: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  let lost: Error | undefined;
  const onError = (err: Error): void => {
    lost = err;
  };
  client.on('error', onError);
  try {
    return await fn(client);
  } finally {
    client.removeListener('error', onError);
    client.release(lost ?? undefined);
  }
}

/** Runs `fn` in one transaction on one connection: everything it writes commits together, or nothing does. */
export async function inTransaction<T>(db: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return withConnection(db, async (client) => {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A connection that died has no transaction left to roll back.
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
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

/**
 * Runs `fn` only where no other process holds the advisory lock `key` (two migration-api instances: one does the
 * periodic work, the other skips it); null when it was held elsewhere. The lock lasts the transaction.
 */
export async function ifFirst<T>(db: Pool, key: number, fn: (client: PoolClient) => Promise<T>): Promise<T | null> {
  return inTransaction(db, async (client) => {
    const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS got', [key]);
    return rows[0]!.got ? fn(client) : null;
  });
}
