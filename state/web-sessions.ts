// The only writer of `web_sessions`: the web view's logins. The browser holds a session's id, the table its hash.
import { randomBytes } from 'node:crypto';
import { Queryable, secretHash } from './db';

/** Who a session is: an administrator or one owner (PCs do not log in). */
export type SessionIdentity = { role: 'admin' } | { role: 'owner'; ownerId: string };

/** Opens a session for `identity`, good for `ttlMs`; its id (for the cookie) and CSRF token, shown only now. */
export async function openSession(
  db: Queryable,
  identity: SessionIdentity,
  ttlMs: number,
): Promise<{ id: string; csrf: string; expiresAt: Date }> {
  const id = randomBytes(32).toString('base64url');
  const csrf = randomBytes(24).toString('base64url');
  const expiresAt = new Date(Date.now() + ttlMs);
  await db.query('INSERT INTO web_sessions (id_sha256, role, owner_id, csrf, expires_at) VALUES ($1, $2, $3, $4, $5)', [
    secretHash(id),
    identity.role,
    identity.role === 'owner' ? identity.ownerId : null,
    csrf,
    expiresAt,
  ]);
  return { id, csrf, expiresAt };
}

/**
 * The live session with this id, null for an unknown or expired one. An owner's session ends with their token: a
 * revoked owner's sessions are no longer live.
 */
export async function liveSession(
  db: Queryable,
  id: string,
): Promise<{ identity: SessionIdentity; csrf: string; expiresAt: Date } | null> {
  const { rows } = await db.query<{ role: 'admin' | 'owner'; ownerId: string | null; csrf: string; expiresAt: Date }>(
    `SELECT s.role, s.owner_id AS "ownerId", s.csrf, s.expires_at AS "expiresAt" FROM web_sessions s
       LEFT JOIN owners o ON o.id = s.owner_id
     WHERE s.id_sha256 = $1 AND s.expires_at > now() AND (s.role = 'admin' OR o.revoked_at IS NULL)`,
    [secretHash(id)],
  );
  const r = rows[0];
  if (!r) return null;
  const identity: SessionIdentity = r.role === 'owner' ? { role: 'owner', ownerId: r.ownerId! } : { role: 'admin' };
  return { identity, csrf: r.csrf, expiresAt: r.expiresAt };
}

export async function closeSession(db: Queryable, id: string): Promise<void> {
  await db.query('DELETE FROM web_sessions WHERE id_sha256 = $1', [secretHash(id)]);
}

/** Drops expired sessions; how many. */
export async function dropExpiredSessions(db: Queryable): Promise<number> {
  return (await db.query('DELETE FROM web_sessions WHERE expires_at <= now()')).rowCount ?? 0;
}
