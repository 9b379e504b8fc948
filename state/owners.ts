// The only writer of `owners`: owners' tokens (stored as hashes) and quotas, and what each holds.
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import type { OwnerQuota, OwnerUsage } from '../domain/ownership';
import { NATURAL, Queryable, secretHash } from './db';

export interface OwnerRow {
  id: string;
  quota: OwnerQuota;
  usage: OwnerUsage;
  issuedAt: Date;
  revokedAt: Date | null;
}

/**
 * Issues a token to an owner with these quotas and returns it, shown only now. An owner issued again gets a new
 * token (the previous one stops working) and the quotas given; their containers stay theirs.
 */
export async function issueOwnerToken(db: Pool, ownerId: string, quota: OwnerQuota): Promise<string> {
  const token = `zo_${randomBytes(32).toString('base64url')}`;
  await db.query(
    `INSERT INTO owners (id, token_sha256, max_containers, max_memory_mib, max_disk_mib) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET token_sha256 = $2, max_containers = $3, max_memory_mib = $4, max_disk_mib = $5,
       issued_at = now(), revoked_at = NULL`,
    [ownerId, secretHash(token), quota.containers, quota.memoryMiB, quota.diskMiB],
  );
  return token;
}

/** Revokes an owner's token; false when the owner has none live. Their containers run on. */
export async function revokeOwnerToken(db: Pool, ownerId: string): Promise<boolean> {
  const r = await db.query('UPDATE owners SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [ownerId]);
  return (r.rowCount ?? 0) > 0;
}

/** Whose token this is, and whether it was revoked; null for a token no owner was given. */
export async function ownerOfToken(
  db: Pool,
  token: string,
): Promise<{ ownerId: string; revokedAt: Date | null } | null> {
  const { rows } = await db.query<{ ownerId: string; revokedAt: Date | null }>(
    'SELECT id AS "ownerId", revoked_at AS "revokedAt" FROM owners WHERE token_sha256 = $1',
    [secretHash(token)],
  );
  return rows[0] ?? null;
}

const OWNER_COLUMNS = `o.id, json_build_object('containers', o.max_containers, 'memoryMiB', o.max_memory_mib,
    'diskMiB', o.max_disk_mib) AS quota,
  json_build_object('containers', count(c.id)::int, 'memoryMiB', coalesce(sum(c.memory_mib), 0)::int,
    'diskMiB', coalesce(sum(c.disk_mib), 0)::int) AS usage,
  o.issued_at AS "issuedAt", o.revoked_at AS "revokedAt"`;

export async function listOwners(db: Queryable): Promise<OwnerRow[]> {
  const { rows } = await db.query<OwnerRow>(
    `SELECT ${OWNER_COLUMNS} FROM owners o LEFT JOIN containers c ON c.owner = o.id GROUP BY o.id ORDER BY o.id ${NATURAL}`,
  );
  return rows;
}

export async function findOwner(db: Queryable, ownerId: string): Promise<OwnerRow | null> {
  const { rows } = await db.query<OwnerRow>(
    `SELECT ${OWNER_COLUMNS} FROM owners o LEFT JOIN containers c ON c.owner = o.id WHERE o.id = $1 GROUP BY o.id`,
    [ownerId],
  );
  return rows[0] ?? null;
}
