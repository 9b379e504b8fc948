// The only writer of `join_tokens`: single-use, expiring tokens with which a PC enrolls (issue 32), kept as hashes.
import { randomBytes } from 'node:crypto';
import type { Queryable } from './db';
import { secretHash } from './db';

/** A new join token for `nodeId`, valid for `ttlMs`; the token is shown only now. */
export async function issueJoinToken(
  db: Queryable,
  nodeId: string,
  ttlMs: number,
): Promise<{ token: string; expiresAt: Date }> {
  const token = `zj_${randomBytes(32).toString('base64url')}`;
  const { rows } = await db.query<{ expiresAt: Date }>(
    `INSERT INTO join_tokens (token_sha256, node_id, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
     RETURNING expires_at AS "expiresAt"`,
    [secretHash(token), nodeId, ttlMs],
  );
  return { token, expiresAt: rows[0]!.expiresAt };
}

/** Why a join token cannot enroll `nodeId` now, or null when it can (it is not used by this). */
export async function joinTokenRefusal(db: Queryable, token: string, nodeId: string): Promise<string | null> {
  const { rows } = await db.query<{ nodeId: string; expiresAt: Date; usedAt: Date | null; expired: boolean }>(
    `SELECT node_id AS "nodeId", expires_at AS "expiresAt", used_at AS "usedAt", expires_at <= now() AS expired
     FROM join_tokens WHERE token_sha256 = $1`,
    [secretHash(token)],
  );
  const t = rows[0];
  if (!t) return 'unknown join token: ask an administrator for one (zanshin node join-token <pc>)';
  if (t.usedAt) return `this join token was used at ${t.usedAt.toISOString()}: a token enrolls once; ask for a new one`;
  if (t.expired) return `this join token expired at ${t.expiresAt.toISOString()}: ask for a new one`;
  if (t.nodeId !== nodeId) return `this join token is for PC ${t.nodeId}, not ${nodeId}`;
  return null;
}

/** Marks the token used, if it still can be (of two enrollments racing with one token, one wins). */
export async function redeemJoinToken(db: Queryable, token: string, nodeId: string): Promise<boolean> {
  const r = await db.query(
    `UPDATE join_tokens SET used_at = now()
     WHERE token_sha256 = $1 AND node_id = $2 AND used_at IS NULL AND expires_at > now()`,
    [secretHash(token), nodeId],
  );
  return r.rowCount === 1;
}
