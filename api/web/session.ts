// The web view's sessions (issue 31 part 3): a login with a token sets an HttpOnly, SameSite=Strict cookie; requests
// that carry it instead of a bearer token act as the session's identity, and every change through it must carry the
// session's CSRF token in X-CSRF-Token (a page of another site can make the browser send the cookie, never read the
// token). Scripts keep using bearer tokens.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Queryable } from '../../state/db';
import { liveSession, SessionIdentity } from '../../state/web-sessions';

export const SESSION_COOKIE = 'zanshin_session';
export const CSRF_HEADER = 'x-csrf-token';
/** A login lasts a working day. */
export const SESSION_TTL_MS = 8 * 3_600_000;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Whether the request's X-CSRF-Token is the session's (compared in constant time). */
export function csrfMatches(given: string | string[] | undefined, expected: string): boolean {
  return typeof given === 'string' && timingSafeEqual(digest(given), digest(expected));
}

/**
 * The identity the request's session cookie proves, or why it proves none (401: no live session; 403: a change
 * without the session's CSRF token). Null when the request carries no session cookie.
 */
export async function sessionIdentity(
  db: Queryable,
  request: FastifyRequest,
): Promise<{ identity: SessionIdentity; csrf: string } | { status: 401 | 403; error: string } | null> {
  const id = request.cookies[SESSION_COOKIE];
  if (!id) return null;
  const session = await liveSession(db, id);
  if (!session)
    return {
      status: 401,
      error: "your session has ended (expired, logged out, or its owner's token revoked): log in again",
    };
  if (!SAFE_METHODS.has(request.method) && !csrfMatches(request.headers[CSRF_HEADER], session.csrf))
    return { status: 403, error: `a change through a session must carry its CSRF token in ${CSRF_HEADER}` };
  return { identity: session.identity, csrf: session.csrf };
}

/** Sets the session cookie: not readable by scripts, sent only with this site's own requests. */
export function setSessionCookie(reply: FastifyReply, id: string, expiresAt: Date, secure: boolean): void {
  void reply.setCookie(SESSION_COOKIE, id, {
    httpOnly: true,
    sameSite: 'strict',
    secure,
    path: '/',
    expires: expiresAt,
  });
}

export function clearSessionCookie(reply: FastifyReply): void {
  void reply.clearCookie(SESSION_COOKIE, { path: '/' });
}

/** Headers of every answer: the pages load nothing but their own files, and no other site may frame them. */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};
