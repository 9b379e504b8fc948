import { createHash, timingSafeEqual } from 'node:crypto';

export type Role = 'admin' | 'node';

/** Who a request is: the administrator, or one PC (its own credential). */
export type Identity = { role: 'admin' } | { role: 'node'; nodeId: string };

/** Looks a PC credential up: whose it is and whether it was revoked (state/node-credentials.ts). */
export type CredentialLookup = (token: string) => Promise<{ nodeId: string; revokedAt: Date | null } | null>;

// Hashing first gives equal-length buffers, so the comparison time says nothing about the token.
const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
const same = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

/** The identity a request's Authorization header proves, or an explanation of why it proves none. */
export async function authenticate(
  header: string | undefined,
  adminToken: string,
  lookup: CredentialLookup,
): Promise<Identity | { error: string }> {
  if (!header) return { error: 'missing Authorization header: send "Authorization: Bearer <token>"' };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return { error: 'malformed Authorization header: expected "Bearer <token>"' };
  const token = match[1]!;
  if (same(token, adminToken)) return { role: 'admin' };
  const credential = await lookup(token);
  if (!credential) return { error: 'invalid bearer token' };
  if (credential.revokedAt)
    return {
      error: `the credential of PC ${credential.nodeId} was revoked at ${credential.revokedAt.toISOString()}: an administrator issues a new one`,
    };
  return { role: 'node', nodeId: credential.nodeId };
}
