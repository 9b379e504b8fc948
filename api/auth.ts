import { createHash, timingSafeEqual } from 'node:crypto';

export type Role = 'admin' | 'node' | 'owner';

/** Who a request is: the administrator, one PC (its own credential), or one owner (their token). */
export type Identity = { role: 'admin' } | { role: 'node'; nodeId: string } | { role: 'owner'; ownerId: string };

/** Looks an owner's token up: whose it is and whether it was revoked (state/owners.ts). */
export type OwnerLookup = (token: string) => Promise<{ ownerId: string; revokedAt: Date | null } | null>;

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
  ownerLookup: OwnerLookup = () => Promise.resolve(null),
): Promise<Identity | { error: string }> {
  if (!header) return { error: 'missing Authorization header: send "Authorization: Bearer <token>"' };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return { error: 'malformed Authorization header: expected "Bearer <token>"' };
  const token = match[1]!;
  if (same(token, adminToken)) return { role: 'admin' };
  const credential = await lookup(token);
  if (!credential) {
    const owner = await ownerLookup(token);
    if (!owner) return { error: 'invalid bearer token' };
    if (owner.revokedAt)
      return {
        error: `the token of owner ${owner.ownerId} was revoked at ${owner.revokedAt.toISOString()}: ask an administrator for a new one`,
      };
    return { role: 'owner', ownerId: owner.ownerId };
  }
  if (credential.revokedAt)
    return {
      error: `the credential of PC ${credential.nodeId} was revoked at ${credential.revokedAt.toISOString()}: an administrator issues a new one`,
    };
  return { role: 'node', nodeId: credential.nodeId };
}
