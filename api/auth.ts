import { createHash, timingSafeEqual } from 'node:crypto';

export type Role = 'admin' | 'node';

export interface Tokens {
  adminToken: string;
  nodeToken: string;
}

// Hashing first gives equal-length buffers, so the comparison time says nothing about the token.
const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
const same = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

/** The role a request's Authorization header proves, or an explanation of why it proves none. */
export function authenticate(header: string | undefined, tokens: Tokens): { role: Role } | { error: string } {
  if (!header) return { error: 'missing Authorization header: send "Authorization: Bearer <token>"' };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return { error: 'malformed Authorization header: expected "Bearer <token>"' };
  const token = match[1]!;
  if (same(token, tokens.adminToken)) return { role: 'admin' };
  if (same(token, tokens.nodeToken)) return { role: 'node' };
  return { error: 'invalid bearer token' };
}
